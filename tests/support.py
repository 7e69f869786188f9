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
