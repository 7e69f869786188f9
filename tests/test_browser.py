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
EXAMPLE_LONG = "What does the Budapest Convention say about the expedited preservation of stored computer data?"
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


def first_screen(page, server: str) -> None:
    page.goto(server, timeout=60_000)
    from playwright.sync_api import expect

    expect(page.get_by_text("documents (", exact=False)).to_be_visible(timeout=90_000)


def test_chat_in_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
            first_screen(page, server)
            expect(page.get_by_role("button", name=ARTICLE5)).to_be_visible()  # the full question
            # .streamlit/config.toml: no developer toolbar ("Deploy") for the people using the chat
            expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
            # the chat box has the focus on load (no tabbing through the sidebar)
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_focused(timeout=10_000)

            first = ask(page, ARTICLE5, 1)
            # [n] is a link from the first render; a click opens its card in place (no navigation)
            cites = first.locator("a.cite")
            assert cites.count() >= 1 and cites.first.inner_text().startswith("[1]")
            url, scroll = page.url, page.evaluate("window.scrollY")
            pop = cites.first.locator(".pop")
            expect(pop).to_be_hidden()
            cites.first.click()
            expect(pop).to_be_visible()
            expect(pop).to_contain_text("The North Atlantic Treaty")
            assert page.url == url and page.evaluate("window.scrollY") == scroll
            # ... and marks its quote in the sources panel beside the answer (wide screen)
            panel = first.locator(".sources")
            expect(panel.locator("li.hl")).to_have_count(1)
            expect(panel.locator("li.hl mark")).to_be_visible()
            answer_box, panel_box = first.locator(".answer").first.bounding_box(), panel.bounding_box()
            assert panel_box["x"] >= answer_box["x"] + answer_box["width"] - 1
            assert abs(panel_box["y"] - answer_box["y"]) < 50
            # one card per document; a team brief with the instrument's official source
            cards = panel.locator(".src-card")
            titles = [cards.nth(i).locator(".title").inner_text() for i in range(cards.count())]
            assert len(titles) == len(set(titles)) and titles[0] == "The North Atlantic Treaty (1949)"
            expect(cards.first.locator(".kind")).to_contain_text("Team brief explaining The North Atlantic Treaty")
            link = cards.first.get_by_role("link", name="official source")
            assert link.get_attribute("href").startswith("https://")
            # announced to screen readers
            live = page.locator("#answer-live")
            assert live.get_attribute("aria-live") == "polite"
            expect(live).to_contain_text("New answer: Article 5")

            # a follow-up is searched with the conversation, and says so
            second = ask(page, "When did it enter into force?", 2)
            expect(second.get_by_text("Searched for:", exact=False)).to_be_visible()
            page.wait_for_timeout(500)
            shot = DOCS_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "chat.png"
            page.get_by_role("heading", name="Security-cooperation policy assistant").evaluate(
                "e => e.scrollIntoView({block: 'start'})")
            first.locator("a.cite").nth(1).click()  # an open citation card in the picture
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000

            # filter by issuer: chips in the page with readable labels
            page.get_by_text("Filter the sources", exact=False).first.click()
            chip = page.get_by_role("toolbar", name="Issuer").get_by_role("button", name="Council of Europe", exact=True)
            expect(chip).to_be_visible()
            expect(page.get_by_role("toolbar", name="Document type").get_by_role("button", name="Treaties & conventions")).to_be_visible()
            chip.click()
            expect(page.get_by_text("Filter the sources — Issuer: Council of Europe")).to_be_visible(timeout=30_000)
            wait_idle(page)
            third = ask(page, "Under the Budapest Convention, what must parties do to preserve stored computer data?", 3)
            cards = third.locator(".src-card")
            assert cards.count() >= 1
            for i in range(cards.count()):
                assert "Council of Europe" in cards.nth(i).locator(".kind").inner_text()

            # export the conversation as Markdown
            sidebar = page.get_by_test_id("stSidebar")
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

            # a reload keeps the conversation (this browser's cookie), and lists it
            page.reload()
            expect(page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stFeedback"))).to_have_count(
                3, timeout=60_000)
            expect(sidebar.get_by_role("button", name=ARTICLE5)).to_be_visible()
        finally:
            browser.close()


BETA_Q = "For how long can stored computer data be preserved under the Beta Code?"


def test_uploads_are_private_across_two_browser_sessions(server, docs_dir, tmp_path):
    """Two people on one server: the second never sees, searches or removes the first one's upload."""
    from playwright.sync_api import expect, sync_playwright

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really a PDF")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            alice = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            bob = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            for page in (alice, bob):
                first_screen(page, server)
            a_side = alice.get_by_test_id("stSidebar")
            a_side.locator("input[type=file]").set_input_files([str(docs_dir / "beta.md"), str(broken)])
            # status and errors next to the uploader; the failed file is not listed
            expect(a_side.get_by_text("Added beta.md")).to_be_visible(timeout=120_000)
            expect(a_side.get_by_text("broken.pdf:", exact=False)).to_be_visible()
            expect(a_side.get_by_role("button", name="Remove", exact=True)).to_have_count(1)
            expect(a_side.get_by_test_id("stMarkdownContainer").filter(has_text="📄")).to_have_text(["📄 beta.md"])
            assert "broken.pdf" not in a_side.get_by_test_id("stFileUploader").inner_text()
            answer = ask(alice, BETA_Q, 1)
            expect(answer.locator(".src-card .badge").first).to_have_text("your upload")
            expect(answer.locator(".src-card").first).to_contain_text("The Beta Cybercrime Code")

            bob.reload()  # the other session: nothing of Alice's listed, searched or removable
            expect(bob.get_by_text("documents (", exact=False)).to_be_visible(timeout=60_000)
            b_side = bob.get_by_test_id("stSidebar")
            expect(b_side.get_by_role("button", name="Remove", exact=True)).to_have_count(0)
            assert "beta.md" not in b_side.inner_text()
            theirs = ask(bob, BETA_Q, 1)
            assert "Beta Cybercrime Code" not in theirs.inner_text()
            expect(theirs.locator(".badge")).to_have_count(0)

            # removal asks first
            a_side.get_by_role("button", name="Remove", exact=True).click()
            expect(a_side.get_by_text("from your documents?", exact=False)).to_be_visible()
            a_side.get_by_role("button", name="Cancel").click()
            expect(a_side.get_by_text("from your documents?", exact=False)).to_have_count(0)
            a_side.get_by_role("button", name="Remove", exact=True).click()
            a_side.get_by_test_id("stBaseButton-primary").filter(has_text="Remove").click()
            expect(a_side.get_by_text("Removed beta.md")).to_be_visible(timeout=60_000)
            expect(a_side.get_by_role("button", name="Remove", exact=True)).to_have_count(0)
        finally:
            browser.close()


def test_mobile_lands_on_the_answer_with_filters_and_cards_in_reach(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            first_screen(page, server)
            expect(page.get_by_test_id("stSidebar")).not_to_be_in_viewport()  # collapsed on a phone ...
            expect(page.get_by_text("Filter the sources", exact=False).first).to_be_visible()  # ... filters are not
            expect(page.get_by_role("button", name=EXAMPLE_LONG)).to_be_visible()
            button = page.get_by_role("button", name=EXAMPLE_LONG).bounding_box()
            assert button["x"] >= 0 and button["x"] + button["width"] <= 390  # the full question, wrapped
            answer = ask(page, ARTICLE5, 1)
            page.wait_for_timeout(3500)
            top = answer.bounding_box()["y"]
            assert -2 <= top < 844 / 3, top  # the view lands on the start of the answer
            text_box, panel_box = answer.locator(".answer").first.bounding_box(), answer.locator(".sources").bounding_box()
            assert panel_box["y"] >= text_box["y"] + text_box["height"] - 1  # sources below the text
            page.mouse.move(195, 500)
            page.mouse.wheel(0, 400)  # the reader scrolls on: the view is theirs, not pulled back
            page.wait_for_timeout(1000)
            assert answer.bounding_box()["y"] < top - 200, answer.bounding_box()["y"]
            page.mouse.wheel(0, -2000)
            page.wait_for_timeout(500)
            cite = answer.locator("a.cite").first
            cite.click()
            pop = cite.locator(".pop")
            expect(pop).to_be_visible()
            box = pop.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1
        finally:
            browser.close()


def test_library_in_browser(server, corpus_bot):
    from playwright.sync_api import expect, sync_playwright

    n = corpus_bot.stats()["documents"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            first_screen(page, server)
            page.get_by_test_id("stSidebar").get_by_role("button", name="Browse the library").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.locator("table.library tbody tr")).to_have_count(n, timeout=30_000)
            expect(dialog.get_by_role("row").filter(has_text="The North Atlantic Treaty (1949)")).to_contain_text("1949-04-04")
            dialog.get_by_label("Search the library").fill("cybercrime convention")
            dialog.get_by_label("Search the library").press("Enter")
            expect(dialog.get_by_text(f"of {n} documents", exact=False)).not_to_have_text(f"{n} of {n} documents")
            rows = dialog.locator("table.library tbody tr")
            expect(rows.filter(has_text="Budapest Convention").first).to_be_visible()
            assert 1 <= rows.count() < n
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
