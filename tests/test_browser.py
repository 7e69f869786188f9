"""The real app in a real browser: `streamlit run` + system Chromium driven by Playwright."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
# The README's picture is refreshed only when asked (UPDATE_SCREENSHOT=1; not an ASSISTANT_
# variable, which the test fixtures clear): a test run must not change a tracked file.
DOCS_SCREENSHOT = ROOT / "docs" / "screenshot.png"
STREAMLIT = Path(sys.executable).parent / "streamlit"
ARTICLE5 = "What does Article 5 of the North Atlantic Treaty commit the parties to?"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"),
]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"streamlit not healthy after {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def server(corpus_index_dir, tmp_path):
    port = free_port()
    log = tmp_path / "streamlit.log"
    # The server runs in a temp folder (nothing it writes lands in the repository) with the
    # repository's Streamlit settings, as `make run` from the repository root has them.
    shutil.copytree(ROOT / ".streamlit", tmp_path / ".streamlit")
    env = dict(os.environ, ASSISTANT_INDEX_DIR=str(corpus_index_dir), HF_HUB_OFFLINE="1",
               ANONYMIZED_TELEMETRY="False", TOKENIZERS_PARALLELISM="false")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(STREAMLIT), "run", str(APP), "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (started above)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


def ask(page, question: str, n_answers: int) -> object:
    """Type a question, wait until the n-th answer has finished (its feedback thumbs appear)."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    answers = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stFeedback"))
    answers.nth(n_answers - 1).wait_for(timeout=120_000)
    wait_idle(page)
    return answers.nth(n_answers - 1)


def wait_idle(page) -> None:
    """Wait until the script run has finished (Streamlit shows its status widget while running),
    so that widgets filled at the end of the run — the export buttons — hold this turn too."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def test_chat_in_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.goto(server, timeout=60_000)
            # first screen: what the assistant knows, example questions
            expect(page.get_by_text("documents (", exact=False)).to_be_visible(timeout=90_000)
            expect(page.get_by_role("button", name=ARTICLE5)).to_be_visible()
            # .streamlit/config.toml: no developer toolbar ("Deploy") for the people using the chat
            expect(page.get_by_role("button", name="Deploy")).to_have_count(0)

            # ask: the streamed answer carries [1] and a source from the North Atlantic Treaty
            first = ask(page, ARTICLE5, 1)
            expect(first).to_contain_text("[1]")
            expect(first).to_contain_text("Sources")
            expect(first.get_by_text("[1] The North Atlantic Treaty", exact=False)).to_be_visible()
            link = first.get_by_role("link", name="official text").first
            assert link.get_attribute("href").startswith("https://")

            # open the first quote: verbatim text with the question's words in bold
            expander = first.get_by_test_id("stExpander").first
            expander.locator("summary").click()
            quote = expander.get_by_test_id("stMarkdownContainer").last
            expect(quote).to_be_visible()
            expect(quote.locator("strong").first).to_be_visible()
            assert "Article" in quote.inner_text()

            # follow-up with the conversation as history
            second = ask(page, "When did it enter into force?", 2)
            expect(second).to_be_visible()
            page.wait_for_timeout(500)
            shot = DOCS_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "chat.png"
            page.get_by_role("heading", name="Security-cooperation policy assistant").evaluate(
                "e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000

            # filter by issuer, then ask: every source comes from that issuer
            sidebar = page.get_by_test_id("stSidebar")
            issuer = sidebar.get_by_role("combobox", name="Issuer")
            issuer.click()
            page.get_by_role("option", name="Council of Europe", exact=True).click()
            expect(issuer).to_have_value("Council of Europe")
            third = ask(page, "Under the Budapest Convention, what must parties do to preserve stored computer data?", 3)
            sources = third.locator("p", has_text="adopted")
            assert sources.count() >= 1
            for i in range(sources.count()):
                assert "Council of Europe" in sources.nth(i).inner_text()

            # export the conversation as Markdown
            for _attempt in range(5):  # the button is re-filled at the end of each run
                with page.expect_download(timeout=30_000) as dl:
                    sidebar.get_by_role("button", name="Download as Markdown").click()
                download = dl.value
                target = tmp_path / download.suggested_filename
                download.save_as(target)
                md = target.read_text(encoding="utf-8")
                if md.count("**You:**") == 3:
                    break
                page.wait_for_timeout(1000)
            assert download.suggested_filename.endswith(".md")
            assert f"**You:** {ARTICLE5}" in md
            assert "[1] The North Atlantic Treaty" in md
            assert md.count("**You:**") == 3
        finally:
            browser.close()


def test_two_sessions_do_not_mix_histories(server):
    """Two users on one server at the same time: each sees only their own conversation."""
    from playwright.sync_api import expect, sync_playwright

    questions = ["What is the European Arrest Warrant?", "What does the Wassenaar Arrangement control?"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pages = [browser.new_context().new_page() for _ in questions]
            for page in pages:
                page.goto(server, timeout=60_000)
                expect(page.get_by_text("documents (", exact=False)).to_be_visible(timeout=90_000)
            for page, question in zip(pages, questions):  # both sessions live at once
                box = page.get_by_test_id("stChatInputTextArea")
                box.fill(question)
                box.press("Enter")
            for page in pages:
                done = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stFeedback"))
                done.first.wait_for(timeout=120_000)
            for page, mine, theirs in ((pages[0], *questions), (pages[1], *reversed(questions))):
                messages = page.get_by_test_id("stChatMessage")
                expect(messages).to_have_count(2)
                expect(messages.first).to_contain_text(mine)
                assert theirs not in page.locator("body").inner_text()
        finally:
            browser.close()
