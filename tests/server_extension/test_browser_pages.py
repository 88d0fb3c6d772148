"""App pages in a real browser (Debian's chromium through playwright): gingee.js builds URLs under the base
URL and sends X-XSRFToken; a public app's sandboxed page reaches its own API; a private app's sandboxed page
cannot use the user's login, while an opted-out (trusted) page can."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright import sync_api as playwright

from tests.server_extension.conftest import ECHO

CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><title>t</title><pre id="result">running</pre>
<script src="../static/gingee.js"></script>
<script>
  const out = document.getElementById("result");
  let cookies = "cookie:blocked";
  try { cookies = "cookie:" + (document.cookie ? "readable" : "none"); } catch (e) {}
  gingee.fetch("echo?x=1", {method: "POST", body: "{}", headers: {"Content-Type": "application/json"}})
    .then(r => r.ok ? r.json().then(j => "answer:" + j.method + ":" + j.prefix) : "status:" + r.status)
    .catch(e => "failed")
    .then(s => { out.textContent = [s, cookies, "url:" + gingee.url("a/b")].join(" "); });
</script>
"""
FILES = {
    "web/pub/box/app.json": {"name": "pub", "public": True},
    "web/pub/box/echo.py": ECHO,
    "web/pub/index.html": PAGE,
    "web/private/box/app.json": {"name": "private"},
    "web/private/box/echo.py": ECHO,
    "web/private/index.html": PAGE,
    "web/trusted/box/app.json": {"name": "trusted", "jupyter": {"sandbox": False}},
    "web/trusted/box/echo.py": ECHO,
    "web/trusted/index.html": PAGE,
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def test_pages_under_the_sandbox_policy(server):
    results = {}
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"],
        )
        try:
            page = browser.new_context(accept_downloads=False).new_page()
            page.goto(server.url("login"))  # sets Jupyter's _xsrf cookie, as opening JupyterLab does
            page.goto(server.url(f"gingee/pub/index.html?token={server.token}"))  # logs the browser in
            for app in ("pub", "private", "trusted"):
                page.goto(server.url(f"gingee/{app}/index.html"))
                page.wait_for_function("() => document.getElementById('result').textContent !== 'running'")
                results[app] = page.locator("#result").inner_text()
        finally:
            browser.close()
    base = server.base_url
    # Public and sandboxed: its own API answers (any origin, no credentials); no cookie is readable.
    assert results["pub"] == f"answer:POST:{base}gingee/pub/ cookie:blocked url:{base}gingee/pub/a/b"
    # Private and sandboxed: the page cannot use the user's login for its requests.
    assert results["private"].startswith("failed cookie:blocked"), results["private"]
    # Trusted (opted out): a same-origin page; gingee.fetch sends X-XSRFToken, so the POST is accepted.
    assert results["trusted"] == (
        f"answer:POST:{base}gingee/trusted/ cookie:readable url:{base}gingee/trusted/a/b"
    )
