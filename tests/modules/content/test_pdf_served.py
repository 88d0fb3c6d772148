"""The pdf module in a running server, over real HTTP on 127.0.0.1: a script returning `await pdf.create(...)`
is answered with application/pdf; an uncaught bad document is a 422 JSON error, a page limit a 413, and an
app without the pdf grant a 500 whose log names the permission."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.modules.content.test_pdf_reading import read_pdf

INVOICE = """
from gingee_kernel import pdf

async def handle(g):
    n = int(g.request.query.get("pages", "2"))
    return await pdf.create({
        "info": {"title": "Invoice"},
        "footer": "Page {page} of {pages}",
        "content": [{"text": f"Part {i}", "pageBreak": "before" if i else None} for i in range(n)]
                   + [{"table": {"body": [["Item", "Price"], ["Tea", "4.00"]]}}],
    })
"""
BAD = """
from gingee_kernel import pdf

async def handle(g):
    return await pdf.create({"content": ["fine", {"table": {"body": [["a"], "not a row"]}}]})
"""


def project() -> dict[str, Any]:
    return {
        "web/docs/box/app.json": {"name": "docs", "pdf": {"max_pages": 5}},
        "web/docs/box/pmft.json": {"permissions": {"mandatory": ["pdf"]}},
        "web/docs/box/invoice.py": INVOICE,
        "web/docs/box/bad.py": BAD,
        "web/plain/box/app.json": {"name": "plain"},
        "web/plain/box/invoice.py": INVOICE,
    }


@pytest.fixture
def server(make_project: Callable[..., Any], serve: Callable[..., Any]) -> Any:
    return serve(make_project(project()))


def test_a_script_answers_with_a_pdf(server: Any) -> None:
    with httpx.Client(timeout=30) as client:
        reply = client.get(server.url("/docs/invoice?pages=3"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/pdf")
    doc = read_pdf(reply.content)
    assert len(doc.pages) == 3 and doc.info["Title"] == "Invoice"
    assert doc.pages[2].words == "Part 2 Item Price Tea 4.00 Page 3 of 3"


def test_an_uncaught_bad_document_is_a_422_json_answer(server: Any) -> None:
    with httpx.Client(timeout=30) as client:
        reply = client.get(server.url("/docs/bad"))
    assert reply.status_code == 422
    assert reply.json() == {
        "error": "INVALID_DOCUMENT",
        "reason": "pdf: /content/1/table/body/1: expected a list of cells",
    }


def test_a_page_limit_is_a_413_json_answer(server: Any) -> None:
    with httpx.Client(timeout=30) as client:
        reply = client.get(server.url("/docs/invoice?pages=9"))
    assert reply.status_code == 413
    assert reply.json()["error"] == "PDF_TOO_LARGE" and "Traceback" not in reply.text


def test_without_the_grant_a_500_whose_log_names_the_permission(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), httpx.Client(timeout=30) as client:
        reply = client.get(server.url("/plain/invoice"))
    assert reply.status_code == 500 and "pdf" not in reply.text
    assert "app 'plain' is not granted the 'pdf' permission" in caplog.text
