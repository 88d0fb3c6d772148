"""One browser test: Debian's chromium (headless) drives JupyterLab through the first tutorial, checks
that the dashboard widget renders and the printed URL answers, and that a public app's page cannot
reach the user's kernels with the user's cookie."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright

from tests.fixtures.chromium import CHROMIUM, launch
from tests.fixtures.jupyter import JupyterServer

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-hello-gingee.ipynb"

ATTACK_PAGE = """<!doctype html><html><body><pre id="result">running</pre><script>
(async () => {
  const out = [];
  let xsrf = "";
  try {
    xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
    out.push("cookie:" + (xsrf ? "read" : "none"));
  } catch (e) { out.push("cookie:blocked"); }
  const base = location.pathname.split("/gingee/")[0] + "/";
  for (const [method, path] of [["POST", "api/kernels"], ["GET", "api/kernels"], ["GET", "api/contents"]]) {
    try {
      const options = {method, credentials: "include", headers: {"X-XSRFToken": xsrf}};
      const reply = await fetch(base + path, options);
      out.push(method + " " + path + ":" + reply.status);
    } catch (e) { out.push(method + " " + path + ":blocked"); }
  }
  document.getElementById("result").textContent = out.join(" ");
})();
</script></body></html>"""


def wait_accepting_dialogs(page: playwright.Page, ready: Callable[[], bool], what: str) -> None:
    """Wait until `ready()`, accepting JupyterLab's "Select Kernel" dialog on the way: Lab asks when a
    notebook opens before the kernel specs have loaded (the preselected choice is the notebook's own)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():
            accept.first.click()
        elif ready():
            return
        page.wait_for_timeout(250)
    shot = Path(tempfile.gettempdir()) / "gingee-browser-test.png"
    page.screenshot(path=str(shot))
    raise AssertionError(f"{what} never happened; the page as it was: {shot}")


def kernel_idle(server: JupyterServer, notebook: str) -> bool:
    """True once the server has a session for `notebook` whose kernel is idle."""
    sessions = httpx.get(server.url("api/sessions"), headers=server.auth).json()
    return any(
        s["path"].endswith(notebook) and (s.get("kernel") or {}).get("execution_state") == "idle"
        for s in sessions
    )


def run_all_cells(page: playwright.Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


@pytest.mark.browser
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_tutorial_in_jupyterlab_and_public_page_cannot_reach_kernels(make_project, jupyter, tmp_path):
    root = make_project(
        {
            "web/attack/box/app.json": {"name": "attack", "public": True},
            "web/attack/index.html": ATTACK_PAGE,
        }
    )
    (root / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, root / "notebooks" / NOTEBOOK.name)
    server = jupyter(root, app="jupyterlab")
    with playwright.sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(accept_downloads=False)
        page = context.new_page()
        page.goto(server.url(f"lab/tree/notebooks/{NOTEBOOK.name}?token={server.token}"))
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        wait_accepting_dialogs(page, lambda: kernel_idle(server, NOTEBOOK.name), "an idle kernel")
        first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
        ran = False
        for _ in range(3):  # a Run All that lands while Lab is still attaching the kernel does nothing
            run_all_cells(page)
            page.wait_for_timeout(2_000)
            if "[ ]" not in first_prompt.inner_text():
                ran = True
                break
        assert ran, "JupyterLab never ran the notebook's cells"
        wait_accepting_dialogs(page, lambda: page.locator(".gingee-dashboard").count() > 0, "the dashboard")
        dashboard = page.wait_for_selector(".gingee-dashboard")
        page.wait_for_function(
            "() => (document.querySelector('.gingee-dashboard')?.innerText || '').includes('/greet/:name')",
            timeout=60_000,
        )
        assert "live at" in dashboard.inner_text()
        link = page.locator("a[href*='gingee/greetings/']").first.get_attribute("href")
        assert link and link.startswith(server.base_url)
        answer = context.new_page()
        answer.goto(f"http://127.0.0.1:{server.port}{link}hello?name=Chromium")
        assert '"Hello, Chromium!"' in answer.content()

        kernels_before = httpx.get(server.url("api/kernels"), headers=server.auth).json()
        attack = context.new_page()
        attack.goto(server.url("gingee/attack/"))
        attack.wait_for_function("() => document.getElementById('result').textContent !== 'running'")
        result = attack.locator("#result").inner_text()
        kernels_after = httpx.get(server.url("api/kernels"), headers=server.auth).json()
        browser.close()
    assert "cookie:blocked" in result or "cookie:none" in result, result
    assert "POST api/kernels:201" not in result and "GET api/kernels:200" not in result, result
    assert len(kernels_after) == len(kernels_before)
