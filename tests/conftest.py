"""Shared fixtures: every test works in temp dirs; the real model is loaded once per session.

Tests come in three layers (markers declared in pyproject.toml):

- unit (no marker): one module's behaviour, no real model, no `assistant` subprocess;
  `make test-fast` runs only these (`-m "not slow and not integration"`). There the real model
  is switched off (``ASSISTANT_TEST_LAYER=unit``): a unit test that reaches it fails, saying to
  mark it ``integration``. A small deterministic embedder (``support.HashEmbeddings``) serves
  tests that need vectors only incidentally.
- ``integration``: the real model, real indexes (Chroma and BM25) and the command line as a
  subprocess.
- ``slow``: end to end — a real browser, SIGKILL crashes, load from several threads, a Chroma
  server process, the Streamlit app. Tests marked ``browser`` or ``server`` are ``slow`` too.

`make test` runs all three.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["TRANSFORMERS_VERBOSITY"] = "error"

ROOT = Path(__file__).resolve().parents[1]
# The ONNX encoder is exported once (make setup) into the clone; every test and subprocess uses it.
MODELS_DIR = str(ROOT / ".assistant" / "models")
os.environ["ASSISTANT_MODELS_DIR"] = MODELS_DIR
# Subprocesses (`assistant ...`) import this clone's package, whichever clone the venv installed.
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
CORPUS = ROOT / "corpus"
# Real official texts, read in place (never copied into the repository): ../shared/realdocs
# beside the clone; /work/shared/realdocs when the clone sits elsewhere.
REALDOCS = next((p.resolve() for p in (ROOT / ".." / "shared" / "realdocs", Path("/work/shared/realdocs"))
                 if p.is_dir()), (ROOT / ".." / "shared" / "realdocs").resolve())
QUESTIONS = ROOT / "eval" / "questions"
UNIT_LAYER = os.environ.get("ASSISTANT_TEST_LAYER") == "unit"  # read before any test clears ASSISTANT_*


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("browser") or item.get_closest_marker("server"):
            item.add_marker(pytest.mark.slow)


def _no_real_model(*args, **kwargs):
    raise RuntimeError("this test uses the real embedding model: mark it @pytest.mark.integration "
                       "(or give it support.HashEmbeddings when the model is not its point)")


@pytest.fixture(autouse=True, scope="session")
def _unit_layer_has_no_model():
    """With ASSISTANT_TEST_LAYER=unit (make test-fast) the real model cannot be loaded, not even
    by a session fixture (this one runs before them)."""
    if not UNIT_LAYER:
        yield
        return
    from assistant import embeddings

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(embeddings, "load_model", _no_real_model)
        patched.setattr(embeddings.MiniLMEmbeddings, "_encode_model", _no_real_model)
        patched.setattr(embeddings.MiniLMEmbeddings, "warm", _no_real_model)
        yield


@pytest.fixture(autouse=True)
def _isolate_settings(monkeypatch, tmp_path):
    """No test reads the developer's .env or writes to ./.assistant."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "default-index"))
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", MODELS_DIR)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory) -> Path:
    """The real corpus, ingested once per session with the real model into a temp dir."""
    from assistant import Assistant

    index_dir = tmp_path_factory.mktemp("corpus-index")
    report = Assistant(index_dir=index_dir).ingest([CORPUS])
    assert report.ok, report.failed
    return index_dir


@pytest.fixture(scope="session")
def corpus_bot(corpus_index_dir):
    """An Assistant over the real corpus (shared: do not ingest into it)."""
    from assistant import Assistant

    return Assistant(index_dir=corpus_index_dir)


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    """A small folder of test documents written for the tests."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "alpha.md").write_text(
        "---\nid: alpha-pact\ntitle: The Alpha Pact (2001)\nissuer: Test Org\ntype: treaty\n"
        "adopted: 2001-02-03\nurl: https://example.org/alpha\ntopics: [collective-defence, nato]\n---\n\n"
        "# The Alpha Pact (2001)\n\n## Article 1 – Mutual defence\n\n"
        "Article 1 of the Alpha Pact obliges each party to help any other party that suffers an armed attack. "
        "The help may include the use of armed force.\n\n"
        "## Article 2 – Withdrawal\n\nA party may withdraw from the Alpha Pact by giving six months' written notice "
        "to the depositary, the Government of Norway.\n",
        encoding="utf-8",
    )
    (d / "beta.md").write_text(
        "---\nid: beta-code\ntitle: The Beta Cybercrime Code (2010)\nissuer: Other Org\ntype: convention\n"
        "adopted: 2010-05-06\nurl: https://example.org/beta\ntopics: [cybercrime]\n---\n\n"
        "# The Beta Cybercrime Code (2010)\n\n## Article 7 – Preservation of data\n\n"
        "Under Article 7 of the Beta Code, a party must be able to order the expedited preservation of stored "
        "computer data for up to ninety days. Each party also keeps a point of contact available twenty-four "
        "hours a day, seven days a week.\n",
        encoding="utf-8",
    )
    return d


def copy_realdocs(dest: Path) -> Path:
    """Copy the real official texts into a temp folder (never into the repository)."""
    if not REALDOCS.is_dir():
        pytest.skip(f"the real official texts are not on this machine ({REALDOCS})")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("north_atlantic_treaty.md", "un_charter.md", "european_mla_convention.md"):
        shutil.copy(REALDOCS / name, dest / name)
    return dest
