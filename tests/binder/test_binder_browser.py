"""An attendee's first minutes on Binder, in Debian's chromium (headless): JupyterLab from the environment
binder/ builds (conftest.py) opens notebook 01 as handed out, "Run All Cells" runs it, and the link the
`app.serve()` cell prints opens the live app under `/user/attendee/gingee/<app>/`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright import sync_api as playwright

from tests.fixtures.chromium import CHROMIUM, launch
from tests.jupyter.test_browser import kernel_idle, run_all_cells, wait_accepting_dialogs

from .test_binder_build import FIRST, NOT_REACHED


def what_the_page_says(page: playwright.Page) -> str:
    return page.locator("body").inner_text()


@pytest.mark.browser
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)
def test_run_all_in_jupyterlab_then_the_printed_link_opens_the_app(binder_lab) -> None:
    server = binder_lab()
    with playwright.sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(accept_downloads=False)
        page = context.new_page()
        page.goto(server.url(f"lab/tree/notebooks/{FIRST.name}?token={server.token}"))
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        wait_accepting_dialogs(page, lambda: kernel_idle(server, FIRST.name), "an idle kernel")
        first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
        for _ in range(3):  # a Run All that lands while Lab is still attaching the kernel does nothing
            run_all_cells(page)
            page.wait_for_timeout(2_000)
            if "[ ]" not in first_prompt.inner_text():
                break
        else:
            raise AssertionError("JupyterLab never ran the notebook's cells")
        link = page.locator(".jp-OutputArea-output a[href*='/gingee/']").first
        wait_accepting_dialogs(page, lambda: link.count() > 0, "the link app.serve() prints")
        href = link.get_attribute("href") or ""
        assert href.startswith(f"{server.base_url}gingee/"), href
        with context.expect_page() as opened:
            link.click()
        app_page = opened.value
        app_page.wait_for_load_state()
        shown = what_the_page_says(app_page)
        assert app_page.url == f"http://127.0.0.1:{server.port}{href}", app_page.url
        assert not any(code in shown for code in NOT_REACHED), shown
        assert "token" not in shown.lower(), f"the link led to Jupyter's login page: {shown[:500]}"
        assert "Greetings" in shown, shown  # the app's home page, notebook 01's "/" route
        app_page.locator("a", has_text="hello?name=Ada").click()  # its relative link, under the base URL
        app_page.wait_for_load_state()
        assert json.loads(what_the_page_says(app_page)) == {"message": "Hello, Ada!"}
        app_page.goto(f"http://127.0.0.1:{server.port}{href}hello?name=Chromium")
        assert json.loads(what_the_page_says(app_page)) == {"message": "Hello, Chromium!"}
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
        wait_accepting_dialogs(page, lambda: "[*]" not in "".join(prompts.all_inner_texts()), "the last cell")
        unrun = [p for p in prompts.all_inner_texts() if "[ ]" in p]  # Run All stops at an error
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t]
        browser.close()
    assert not tracebacks and not unrun, (tracebacks, unrun)
