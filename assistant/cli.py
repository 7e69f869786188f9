"""The ``assistant`` command line. Start-up stays light: torch loads only when a command needs it."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import AssistantError, BadInput

app = typer.Typer(
    help="Answer questions about international security-cooperation policy, citing the exact passages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
state: dict = {"index": None, "debug": False, "exit_now": False}


def _assistant():
    from .api import Assistant

    return Assistant(index_dir=state["index"])


def _answering_assistant():
    """The assistant, once its index is known to be able to answer (not a store that lost its chunks)."""
    from .errors import IndexDamaged

    bot = _assistant()
    _warm_encoder(bot)
    problem = bot.index().problem()
    if problem:
        raise IndexDamaged(problem)
    return bot


def _warm_encoder(bot) -> None:
    """Load the encoder on a thread while this one opens the index (Chroma's import and open)."""
    from .embeddings import warm_in_background

    warm_in_background(bot.embeddings)


# C0 and C1 control characters (but newline and tab), DEL, and the Unicode controls that reorder
# or hide text (bidi overrides and isolates, direction marks, zero-width space; not the joiners
# U+200C/U+200D that Persian, Indic scripts and emoji need): shown as visible escapes.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def visible(text: object) -> str:
    """``text`` safe for a terminal: every control character becomes a visible escape (``\\x1b``,
    ``\\u202e``), so a document can never clear the screen, write the clipboard (OSC 52), hide
    text or forge output lines. Everything printed from a document or a file name goes through it."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       str(text))


def _parse_filters(values: list[str] | None) -> dict[str, str]:
    filters: dict[str, str] = {}
    for item in values or []:
        if "=" not in item:
            raise BadInput(f"--filter needs KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key in filters:
            raise BadInput(f"--filter {key} given twice ({key}={filters[key]}, {key}={value.strip()})")
        filters[key] = value.strip()
    return filters


def _stream_answer(bot, question: str, history=None, filters=None, k=None):
    """Print the answer as it is produced, then its notice and sources; return the Answer."""
    from .types import Answer

    answer = None
    for piece in bot.stream(question, history=history, filters=filters, k=k):
        if isinstance(piece, Answer):
            answer = piece
        else:
            print(visible(piece), end="", flush=True)
    print()
    _print_sources(answer)
    return answer


def _print_sources(answer) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if answer.parts:  # a comparison: one row per instrument or provision
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", show_lines=True)
        table.add_column("subject")
        table.add_column("what it says")
        for part in answer.parts:
            table.add_row(escape(visible(part.subject)), escape(visible(part.text)))
        console.print(table)
    from .sources import not_held_notice

    for notice in (not_held_notice(answer.not_held), answer.notice):
        if notice:
            console.print(f"[yellow]{escape(visible(notice))}[/yellow]")
    if answer.citations:
        console.print()
        for c in answer.citations:
            where = f" — {c.section}" if c.section else ""
            page = f", p. {c.page}" if c.page else ""
            reviewed = f" (reviewed {c.reviewed})" if c.reviewed else ""
            console.print(f"[bold][{c.marker}][/bold] {escape(visible(c.title))}{escape(visible(where))}{page}"
                          f"{escape(visible(reviewed))}")
            console.print(f"    {escape(visible(c.url))}", style="dim")


@app.callback()
def main_options(
    index: Optional[str] = typer.Option(None, "--index", metavar="FOLDER", help="Index folder (default: $ASSISTANT_INDEX_DIR or .assistant/index)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """Global options."""
    state["debug"] = debug
    if index is not None and not index.strip():
        # Path("") is the current folder: an empty --index (an unset shell variable) would
        # silently read and write an index in whatever folder the command runs from.
        raise BadInput("--index needs a folder; it was given an empty string")
    state["index"] = Path(index) if index is not None else None


@app.command()
def ingest(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders (default: the corpus folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Index documents (Markdown, text, HTML, PDF, DOCX). Incremental: only new or changed files are embedded."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bot = _assistant()
    targets = paths or [bot.settings.corpus_dir]
    labels = {"parse": "Reading files", "embed": "Embedding chunks", "lexical": "Building BM25"}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, disable=as_json or not sys.stderr.isatty()) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = bot.ingest(targets, progress=progress)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for note in report.notes:
            print(f"note: {visible(note)}", file=sys.stderr)
        for path, reason in report.failed:  # a file name with a newline cannot forge a line
            print(f"failed: {visible(path)}: {visible(reason)}", file=sys.stderr)
        print(report.summary())
    if report.failed:
        raise typer.Exit(1)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in quotes."),
    as_json: bool = typer.Option(False, "--json", help="Print the full Answer as JSON."),
    filters: Optional[list[str]] = typer.Option(None, "--filter", help="KEY=VALUE metadata filter (doc_id, issuer, type, topic); repeatable."),
    k: Optional[int] = typer.Option(None, "-k", help="Number of passages to retrieve."),
) -> None:
    """Answer one question with cited passages (or say the sources don't cover it)."""
    bot = _answering_assistant()
    if as_json:
        answer = bot.ask(question, filters=_parse_filters(filters), k=k)
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _stream_answer(bot, question, filters=_parse_filters(filters), k=k)
    state["exit_now"] = True  # answered, nothing written: see _exit_now()


@app.command()
def stats(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show what the index holds."""
    info = _assistant().stats()
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key}: {visible(value)}")


@app.command()
def chat() -> None:
    """Chat in the terminal; follow-up questions use the conversation. Ctrl-D or 'exit' to quit."""
    bot = _answering_assistant()  # fails early with a clear message when there is no usable index
    history: list[dict] = []
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if question.lower() in {"exit", "quit", ":q"}:
            return
        if not question:
            continue
        if question == "/new":
            history = []
            print("(new conversation)")
            continue
        answer = _stream_answer(bot, question, history=history)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


@app.command("eval")
def eval_cmd(
    questions: Path = typer.Argument(..., help="Question set (JSONL, one question a line)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a Markdown report (with charts) here."),
    k: int = typer.Option(5, "--k", help="Cut-off for recall@k."),
    compare: bool = typer.Option(False, "--compare", help="Also run ablations: dense only, BM25 only, naive baseline."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Choose the abstention threshold on one half, report on the other."),
    docs: Optional[Path] = typer.Option(None, "--docs", help="Evaluate against an index of this folder (built, or brought up to date, first; kept under .assistant/docs/ unless --index is given)."),
) -> None:
    """Measure retrieval, answers, citations and abstention on a question set.

    With --docs DIR the questions run against an index of DIR instead of the corpus, e.g.
    `assistant eval eval/questions/realdocs-dev.jsonl --docs ../shared/realdocs`.
    """
    from .evaluation import evaluate, load_questions

    bot = _assistant()
    if docs is not None:
        bot = _docs_assistant(docs)
    result = evaluate(bot, questions, k)
    for problem in result["problems"]:
        print(f"{visible(questions)}: {visible(problem)}", file=sys.stderr)
    if calibrate:
        from .evaluation import calibrate as choose_threshold

        result["calibration"] = choose_threshold(result["per_question"])
    if compare:
        from .ablations import run_ablations

        print("building the naive baseline index…", file=sys.stderr)
        result["ablations"] = run_ablations(bot, load_questions(questions)[0], k)
    if report:
        from .report import write_report

        write_report(result, report)
    if as_json:
        text = json.dumps(result, ensure_ascii=False, indent=2)
        try:
            text.encode(sys.stdout.encoding or "utf-8")
        except (UnicodeEncodeError, LookupError):
            text = json.dumps(result, ensure_ascii=True, indent=2)  # still valid JSON, every character escaped
        print(text)
    else:
        _print_eval_summary(result)


def _print_eval_summary(result: dict) -> None:
    """The eval result as readable tables: metrics, calibration, ablations."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['n']} questions ({result['answerable']} answerable, {result['unanswerable']} unanswerable)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for group in ("retrieval", "answer", "abstention", "latency_ms"):
        for name, value in result[group].items():
            table.add_row(f"{group}.{name}", "n/a" if value is None else f"{value}")
    console = Console()
    console.print(table)
    if "calibration" in result:
        console.print(f"calibration: {result['calibration']}")
    if "ablations" in result:
        abl = Table(title="Ablations (same questions, same run)")
        abl.add_column("system")
        metrics = list(next(iter(result["ablations"].values())).keys())
        for m in metrics:
            abl.add_column(m, justify="right")
        for name, values in result["ablations"].items():
            abl.add_row(name, *("n/a" if values[m] is None else f"{values[m]}" for m in metrics))
        console.print(abl)


def _docs_assistant(folder: Path):
    """An Assistant over an index of ``folder`` (its own index folder unless --index was given),
    ingested incrementally first so that a second run reuses it."""
    from .api import Assistant, docs_index_dir

    if not folder.is_dir():
        raise BadInput(f"--docs needs a folder: {folder}")
    bot = Assistant(index_dir=state["index"] or docs_index_dir(folder))
    report = bot.ingest([folder], progress=None)
    print(f"index of {visible(folder)}: {report.summary()}", file=sys.stderr)
    if report.failed:
        for path, reason in report.failed:
            print(f"failed: {visible(path)}: {visible(reason)}", file=sys.stderr)
    return bot


def _store_error(exc: BaseException) -> str | None:
    from .settings import Settings
    from .store import store_error_message

    try:
        settings = Settings()
    except Exception:  # noqa: BLE001 - bad settings are reported elsewhere
        return None
    if state["index"] is not None:
        settings = settings.model_copy(update={"index_dir": Path(state["index"])})
    return store_error_message(exc, settings)


def _exit_now() -> None:
    """End the process without the interpreter's teardown, which frees ~2,000 modules (Chroma,
    ONNX Runtime, pydantic ...) one by one: ~0.4 s of a ~2 s `assistant ask`. Output is flushed
    and the atexit handlers run first (a read-only index's private copy is removed); only a
    command that finished and wrote nothing but its output ends this way (``ask``)."""
    import atexit
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that went away (`| head`): nothing more to say to it
        pass
    atexit._run_exitfuncs()
    os._exit(0)


def main() -> None:
    """Entry point: run the CLI, turning errors into one line and an exit code."""
    try:
        code = app(standalone_mode=False)  # click returns (not raises) a typer.Exit code here
        if isinstance(code, int) and code:
            sys.exit(code)
        if state["exit_now"]:
            _exit_now()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        if state["debug"]:
            raise
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):  # click/typer usage errors
            show()
            sys.exit(exc.exit_code)
        if isinstance(exc, AssistantError):
            print(f"error: {visible(exc)}", file=sys.stderr)
            sys.exit(exc.exit_code)
        named = _store_error(exc)
        if named:  # a frozen Chroma server, a full disk, a read-only index: said as such
            print(f"error: {visible(named)}", file=sys.stderr)
            sys.exit(1)
        print(f"error: {type(exc).__name__}: {visible(exc)} (run with --debug for details)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
