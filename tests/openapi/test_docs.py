"""`<app>/_gingee/docs`: the OpenAPI document rendered by the Swagger UI shipped in the package, checked over
HTTP and in Debian's chromium (headless), under `gingee serve` and in Jupyter behind a base URL, where the
page is sandboxed and its files load without the login cookie."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright import sync_api as playwright

from gingee_kernel.engine.apidocs import ASSETS
from tests.fixtures.chromium import launch

TOKEN = "op-secret-token-123"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = {
    "routes": [
        {"path": "/items", "method": "POST", "script": "items.py", "handler": "create",
         "summary": "Add an item </script><script>window.pwned = 1</script>",
         "body": {"type": "object", "required": ["qty"], "properties": {"qty": {"type": "integer"}}}},
        {"path": "/items/:id", "method": "GET", "script": "items.py", "handler": "show"},
    ]
}  # fmt: skip
ITEMS = """
async def create(g):
    return {"id": 1, "qty": g.request.body["qty"]}

async def show(g):
    return {"id": g.request.params["id"]}
"""


def _files(**app_json):
    return {
        "web/shop/box/app.json": {"name": "shop", "version": "2.0.0", **app_json},
        "web/shop/box/routes.json": ROUTES,
        "web/shop/box/items.py": ITEMS,
    }


def _inline_document(page_html: str) -> dict:
    found = re.search(r'<script id="gingee-openapi" type="application/json">(.*?)</script>', page_html, re.S)
    assert found, page_html[:500]
    return json.loads(found.group(1))


def test_the_page_carries_the_document_and_its_files_load(make_project, serve, client: httpx.Client) -> None:
    server = serve(make_project({"gingee.json": {"admin": {"token": TOKEN}}, **_files()}), dev=False)
    page = client.get(server.url("/shop/_gingee/docs"), headers=OPERATOR)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    document = client.get(server.url("/shop/_gingee/openapi.json"), headers=OPERATOR).json()
    assert _inline_document(page.text) == document
    # The author's text cannot end the data element and run as script.
    assert page.text.count("</script>") == 3 and "window.pwned" in page.text
    for src in re.findall(r'(?:src|href)="(docs/[^"?]+)', page.text):
        asset = client.get(server.url(f"/shop/_gingee/{src}"))  # anyone may load the viewer's files
        assert asset.status_code == 200, src
        assert asset.headers["content-type"] == ASSETS[src.removeprefix("docs/")]
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert {m.removeprefix("docs/") for m in re.findall(r'"(docs/[^"?]+)', page.text)} == set(ASSETS)


def test_who_sees_the_page_and_what_else_it_answers(make_project, serve, client: httpx.Client) -> None:
    server = serve(make_project({"gingee.json": {"admin": {"token": TOKEN}}, **_files()}), dev=False)
    denied = client.get(server.url("/shop/_gingee/docs"))
    assert denied.status_code == 403 and denied.json()["error"] == "ACCESS_DENIED"
    posted = client.post(server.url("/shop/_gingee/docs"), headers=OPERATOR)
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    slash = client.get(server.url("/shop/_gingee/docs/"), headers=OPERATOR, follow_redirects=False)
    assert slash.status_code == 301 and slash.headers["location"] == "../docs"
    for name in ("%2e%2e%2fopenapi.json", "x/swagger-ui.css", "swagger-ui.css.map", "README.md", "LICENSE"):
        missing = client.get(server.url(f"/shop/_gingee/docs/{name}"), headers=OPERATOR)
        assert missing.status_code == 404 and missing.json()["error"] in ("FILE_NOT_FOUND", "NOT_FOUND")
    public_files = {"gingee.json": {"admin": {"token": TOKEN}}, **_files(openapi={"public": True})}
    public = serve(make_project(public_files))
    assert client.get(public.url("/shop/_gingee/docs")).status_code == 200


def _rendered(page: playwright.Page, url: str) -> list[str]:
    """Open the docs page; the operations Swagger UI rendered (method and path)."""
    page.goto(url)
    page.wait_for_selector(".opblock", timeout=30_000)
    return sorted(
        " ".join(block.inner_text().split()[:2]) for block in page.locator(".opblock-summary").all()
    )


@pytest.mark.browser
def test_chromium_renders_the_docs_and_tries_a_route(make_project, serve, jupyter) -> None:
    root = make_project(_files())
    server = serve(root, dev=False)  # no admin token: a loopback client is the operator
    problems: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        operations = _rendered(page, server.url("/shop/_gingee/docs"))
        assert operations == ["GET /items/{id}", "POST /items"], operations
        assert page.evaluate("window.pwned") is None
        # Try it out: GET /items/{id} with id 7, sent by the page to the app.
        page.locator(".opblock-get .opblock-summary").click()
        page.get_by_role("button", name="Try it out").click()
        page.locator(".opblock-get input[placeholder='id']").fill("7")
        page.get_by_role("button", name="Execute").click()
        page.wait_for_selector(".opblock-get .responses-table .response-col_status", timeout=15_000)
        body = page.locator(".opblock-get .live-responses-table .microlight").first.inner_text()
        assert json.loads(body) == {"id": "7"}

        # In Jupyter, behind a base URL: the app needs the login, its page is sandboxed (no cookies for
        # what it loads), and the viewer's files still come.
        lab = jupyter(root, base_url="/user/attendee/")
        jpage = browser.new_page()
        jpage.on("pageerror", lambda e: problems.append(str(e)))
        jpage.goto(lab.url(f"?token={lab.token}"))  # logs the browser in
        operations = _rendered(jpage, lab.url("gingee/shop/_gingee/docs"))
        assert operations == ["GET /items/{id}", "POST /items"], operations
        cookie = "() => { try { return document.cookie; } catch (e) { return 'sandboxed'; } }"
        assert jpage.evaluate(cookie) == "sandboxed"
        browser.close()
    assert not problems, problems


def test_an_isolated_apps_docs_come_from_its_worker(make_project, serve, client: httpx.Client) -> None:
    files = {"gingee.json": {"isolation": {"mode": "process"}, "admin": {"token": TOKEN}}, **_files()}
    server = serve(make_project(files), dev=False)
    assert client.get(server.url("/shop/_gingee/docs")).status_code == 403
    page = client.get(server.url("/shop/_gingee/docs"), headers=OPERATOR)
    assert page.status_code == 200 and "/items/{id}" in _inline_document(page.text)["paths"]
    asset = client.get(server.url("/shop/_gingee/docs/gingee-docs.js"))
    assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.content
