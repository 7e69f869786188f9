"""Helpers shared by the tests and the benchmarks: a free local port, a real Chroma server, and
a check that stored vectors are those of their texts.

``ChromaServer`` runs ``chroma run`` (the CLI installed with chromadb, beside this Python) on a
free port over a data folder, waits for its heartbeat, and stops it by its PID. The tests use it
for ``ASSISTANT_CHROMA_URL``; ``bench/query_bench.py`` uses it to time queries through a server.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def stored_vectors_match_fresh_encoding(bot) -> bool:
    """Whether every vector in the bot's Chroma collection equals a fresh encoding of the text
    it stands for (title, section and body, as ingest embeds them)."""
    import numpy as np

    from assistant.chunking import embed_text

    got = bot.index().collection.get(include=["documents", "metadatas", "embeddings"])
    fresh = bot.embeddings.encode([embed_text(t, m) for t, m in zip(got["documents"], got["metadatas"])])
    return bool(np.allclose(np.asarray(got["embeddings"]), fresh, atol=1e-5))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """``chroma run --path PATH`` on a free local port; a context manager that stops it."""

    def __init__(self, path: Path, timeout: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        try:
            while True:
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"chroma server did not answer within {timeout:g} s")
                try:
                    with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                        break
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"chroma run exited with status {self.proc.returncode}") from None
                    time.sleep(0.1)
        except BaseException:
            self.stop()  # never leave a server behind
            raise
        self.start_s = round(time.perf_counter() - t0, 2)

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident set (VmHWM), read before it stops."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> "ChromaServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class HashEmbeddings:
    """A small deterministic embedder for unit tests that need vectors only incidentally (cache
    mechanics, storage round trips): each word is hashed to a few of 384 dimensions and the sum
    is normalized, so equal texts get equal vectors and texts sharing words are similar. Never for
    a test whose point is retrieval or answer quality: that is the real model's job."""

    dimension = 384

    def __init__(self) -> None:
        self.calls = 0  # texts embedded so far
        self.encoded = 0

    def encode(self, texts, progress=None):
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                for j in range(0, 8, 2):
                    out[i, int.from_bytes(digest[j:j + 2], "little") % self.dimension] += 1.0
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else out[i]
        self.calls += len(texts)
        self.encoded += len(texts)
        if progress:
            progress(len(texts))
        return out

    def embed_documents(self, texts):
        return self.encode(list(texts)).tolist()

    def embed_query(self, text):
        return self.encode([text])[0].tolist()
