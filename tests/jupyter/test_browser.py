"""One browser test: Debian's chromium (headless) drives JupyterLab through the first tutorial, checks
that the dashboard widget renders and the printed URL answers, and that a public app's page cannot
reach the user's kernels with the user's cookie."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gingee_server")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(accept_downloads=False)
        page = context.new_page()
        page.goto(server.url(f"lab/tree/notebooks/{NOTEBOOK.name}?token={server.token}"))
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-KernelStatus", timeout=120_000
        )
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        dashboard = page.wait_for_selector(".gingee-dashboard", timeout=120_000)
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
