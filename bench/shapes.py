"""Ingest cost by document shape and size: seconds per MB (prints a table and one JSON line).

    .venv/bin/python bench/shapes.py                        # 0.1, 1, 5, 25 MB x paragraph, lines, pdf
    .venv/bin/python bench/shapes.py --sizes 0.1,1 --shapes paragraph,lines

Each document is synthetic prose (seeded: sentences of 8-25 words drawn from 6,000 made-up words,
with a number now and then and an "e.g." in one sentence of 50, so every chunk is distinct and a
few sentences need pysbd), written as

* ``paragraph``: one line, no line break at all (text extracted from many PDFs and web pages);
* ``lines``: one sentence a line (short lines, no blank line);
* ``pdf``: a 500-page PDF written here (Helvetica text operators, one content stream a page,
  Flate-compressed), the text spread evenly over the pages;
* ``repeated`` (with ``--repeated``): one sentence repeated to the size, as one paragraph.

Each is ingested with ``Assistant.ingest`` into a new, empty index in this process (the model is
loaded and warmed first), with the extraction budgets raised so that the 25 MB files are allowed
(the defaults refuse more than 10 million characters or 20,000 chunks a file). Reported per run:
wall and CPU seconds, seconds per MB (of text), chunks, milliseconds per chunk, texts encoded.
Right after each ingest the raw encoder is timed on 256 of that document's chunk texts (spread
over it, no de-duplication), giving its seconds per MB of that very text under the same load:
``ingest / encoder`` is the ingest's seconds per MB over it (1.0 = ingest at the encoder's speed;
below 1 = faster, possible only when texts repeat); the same in CPU seconds (this process, all
threads), which a shared machine's load disturbs far less than wall time.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Timer, emit, machine, peak_rss_mb  # noqa: E402

MB = 2**20
PDF_PAGES = 500


def vocabulary(n: int = 6000, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    syllables = ["ab", "ar", "co", "de", "en", "ex", "ga", "in", "is", "lo", "ma", "ne", "or", "pa", "re", "si",
                 "ta", "tu", "um", "ve", "tion", "ment", "al", "ity", "ous", "ive", "er", "ic"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def sentences(n_bytes: int, seed: int = 1):
    """Sentences (str) until about ``n_bytes`` of UTF-8 have been produced."""
    rng = random.Random(seed)
    words = vocabulary()
    size = 0
    while size < n_bytes:
        ws = [rng.choice(words) for _ in range(rng.randint(8, 25))]
        if rng.random() < 0.1:
            ws.insert(rng.randrange(len(ws)), str(rng.randint(1, 2030)))
        if rng.random() < 0.02:
            ws.insert(2, "e.g.")
        sentence = " ".join(ws).capitalize() + "."
        size += len(sentence) + 1
        yield sentence


def write_text(path: Path, n_bytes: int, sep: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for s in sentences(n_bytes):
            fh.write(s + sep)


def write_repeated(path: Path, n_bytes: int) -> None:
    sentence = "Member states exchange information on border security and police cooperation. "
    path.write_text(sentence * (n_bytes // len(sentence)), encoding="utf-8")


def write_pdf(path: Path, n_bytes: int, pages: int = PDF_PAGES) -> None:
    """A PDF of ``pages`` pages holding about ``n_bytes`` of text, lines of ~90 characters."""
    lines: list[str] = []
    line = ""
    for s in sentences(n_bytes):
        for w in s.split():
            if len(line) + len(w) + 1 > 90:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}" if line else w
    lines.append(line)
    per_page = -(-len(lines) // pages)
    font = 3 + 2 * pages  # object number of the font
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>",
                         ("<< /Type /Pages /Kids [" + " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
                          + f"] /Count {pages} >>").encode()]
    for i in range(pages):
        body = "\n".join(f"({ln}) Tj T*" for ln in lines[i * per_page:(i + 1) * per_page])
        content = zlib.compress(f"BT /F1 9 Tf 11 TL 36 760 Td\n{body}\nET".encode("latin-1"), 1)
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                    f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode())
        objs.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))


def make(shape: str, n_bytes: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if shape == "paragraph":
        path = folder / "paragraph.txt"
        write_text(path, n_bytes, " ")
    elif shape == "lines":
        path = folder / "lines.txt"
        write_text(path, n_bytes, "\n")
    elif shape == "repeated":
        path = folder / "repeated.txt"
        write_repeated(path, n_bytes)
    elif shape == "pdf":
        path = folder / "pages.pdf"
        write_pdf(path, n_bytes)
    else:
        raise SystemExit(f"unknown shape {shape!r}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0.1,1,5,25", help="MB of text, comma-separated")
    ap.add_argument("--shapes", default="paragraph,lines,pdf")
    ap.add_argument("--repeated", action="store_true", help="also one repeated sentence, as one paragraph")
    ap.add_argument("--out", type=Path, default=RESULTS / "shapes.json")
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",") + (["repeated"] if args.repeated else [])

    from assistant import Assistant
    from assistant.chunking import chunk_document, clear_sentence_cache
    from assistant.loaders import Budget, load
    from assistant.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="shapes-"))
    settings = Settings(max_file_chars=200_000_000, max_file_chunks=1_000_000, max_pdf_content_bytes=500 * MB,
                        max_file_pages=10_000)
    out: dict = {"machine": machine(), "runs": []}
    try:
        warm = Assistant(settings=settings.model_copy(update={"index_dir": work / "warm-idx"}))
        make("lines", 20_000, work / "warm")
        warm.ingest([work / "warm"])  # model, Chroma and bm25s loaded before anything is timed
        emb = warm.embeddings

        for shape in shapes:
            for size in sizes:
                folder = work / f"{shape}-{size}"
                path = make(shape, int(size * MB), folder)
                file_mb = path.stat().st_size / MB
                bot = Assistant(settings=settings.model_copy(update={"index_dir": work / f"idx-{shape}-{size}"}),
                                embeddings=emb)  # the loaded model, shared
                encoded0 = emb.encoded
                clear_sentence_cache()
                t0 = time.strftime("%H:%M:%S")
                with Timer() as t:
                    report = bot.ingest([folder])
                assert report.ok, report.failed
                # The raw encoder, right after, on 256 of this document's chunk texts spread over
                # it (without the de-duplication): its seconds per MB of this very text.
                chunks = chunk_document(load(path, Budget.from_settings(settings)), str(path),
                                        settings.chunk_max_words, settings.chunk_overlap_sentences)
                step = max(1, len(chunks) // 256)
                sample = [c.embed_text for c in chunks[::step]][:256]
                with Timer() as e:
                    emb.encode_uncached(sample)
                text_mb = size  # MB of text generated (a PDF file is smaller: its streams are compressed)
                encoder_s_per_mb = e.wall / len(sample) * len(chunks) / text_mb
                encoder_cpu_s_per_mb = e.cpu / len(sample) * len(chunks) / text_mb
                row = {"shape": shape, "mb": size, "file_mb": round(file_mb, 2), "started": t0,
                       "wall_s": round(t.wall, 2), "cpu_s": round(t.cpu, 2),
                       "s_per_mb": round(t.wall / text_mb, 2), "cpu_s_per_mb": round(t.cpu / text_mb, 2),
                       "chunks": report.chunks_added, "ms_per_chunk": round(1000 * t.wall / report.chunks_added, 1),
                       "encoded": emb.encoded - encoded0, "encoder_s_per_mb": round(encoder_s_per_mb, 2),
                       "vs_encoder": round((t.wall / text_mb) / encoder_s_per_mb, 2),
                       "encoder_cpu_s_per_mb": round(encoder_cpu_s_per_mb, 2),
                       "cpu_vs_encoder": round((t.cpu / text_mb) / encoder_cpu_s_per_mb, 2)}
                out["runs"].append(row)
                print(f"{shape:9} {size:6g} MB  {t.wall:8.1f} s  {row['s_per_mb']:6.2f} s/MB  cpu {row['cpu_s_per_mb']:6.2f} "
                      f"s/MB  {row['chunks']:7d} chunks  {row['ms_per_chunk']:6.1f} ms/chunk  {row['encoded']:7d} encoded  "
                      f"encoder {encoder_s_per_mb:6.2f} s/MB  ingest/encoder {row['vs_encoder']:.2f}  "
                      f"(CPU: encoder {encoder_cpu_s_per_mb:6.2f} s/MB, ingest/encoder {row['cpu_vs_encoder']:.2f})",
                      file=sys.stderr, flush=True)
                shutil.rmtree(folder, ignore_errors=True)
                shutil.rmtree(work / f"idx-{shape}-{size}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    for shape in shapes:
        rows = [r for r in out["runs"] if r["shape"] == shape]
        if len(rows) > 1:
            per = [r["s_per_mb"] for r in rows]
            mid = sorted(per)[len(per) // 2]
            out.setdefault("spread", {})[shape] = {"min_over_median": round(min(per) / mid, 2),
                                                   "max_over_median": round(max(per) / mid, 2)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    emit(out)


if __name__ == "__main__":
    main()
