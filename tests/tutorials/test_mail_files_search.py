"""Notebook 05 (mail, files and search): the welcome mail in the outbox, the picture served back with its
type, the search hits highlighted; and its export, served by `gingee serve`, answering the same."""

from __future__ import annotations

import json

from gingee_kernel.cli import main
from gingee_kernel.modules.mail_drivers.console import OUTBOXES

WELCOME = "Welcome to the garden club, Ada!"
ZURICH = "Book the <mark>Zürich</mark> seed fair"


def test_mail_files_search_tutorial_shows_its_mail_picture_and_hits(tutorial) -> None:
    run = tutorial("05-mail-files-and-search")
    by_first_line = run.outputs_by_cell()

    def out(start: str) -> str:
        [text] = [text for first, text in by_first_line.items() if first.startswith(start)]
        return text

    # The welcome mail: in the outbox widget (as drawn, and in its saved state), and as data.
    assert "Outbox of Gingee app <code>garden</code>: 1 message" in out("outbox = app.outbox()")
    assert WELCOME in json.dumps(run.nb.metadata["widgets"])
    refused = out('app.request("POST", "/members", json={"name": "Bob"')
    assert "HTTP 422" in refused and '"error": "INVALID_EMAIL"' in refused
    shown = out("sent = [")
    assert f"[(['ada@example.com'], '{WELCOME}')]" in shown  # Bob got no mail
    assert "[{'id': 1, 'name': 'Ada', 'email': 'ada@example.com'}]" in shown  # and was rolled back
    # The picture: stored, served back with its type and displayed; a text upload refused; a 304.
    back = out('back = app.request("GET", "/members/1/photo")')
    assert "200 image/png" in back and "the same as sent: True" in back
    pictures = [o for c in run.code_cells() for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1
    assert "HTTP 415" in out('app.request("PUT", "/members/1/photo", body="not a picture"')
    assert out('app.request("GET", "/members/1/photo", headers={"If-None-Match"').strip() == "304"
    # The search: a prefix, an accent-free word, the matches marked.
    tomatoes = out('app.call(search.query, "todos", "tomato*")')
    assert "Water the <mark>tomatoes</mark>" in tomatoes
    assert "Plant the <mark>tomato</mark> seedlings" in tomatoes
    assert ZURICH in out('app.call(search.query, "todos", "zurich OR')
    # The export.
    exported = out('folder = app.export("web")')
    assert "'box/routes/upload_photo.py'" in exported and "'box/routes/find.py'" in exported
    box = run.workdir / "web/garden/box"
    routes = json.loads((box / "routes.json").read_text())["routes"]
    upload = next(r for r in routes if r["method"] == "PUT")
    assert {"path": "/members/:id/photo", "body": "stream"}.items() <= upload.items()
    app_json = json.loads((box / "app.json").read_text())
    assert app_json["search"] == [{"name": "todos", "fields": {"title": {"weight": 3}, "notes": {}}}]
    assert app_json["mail"]["from"] == "Garden club <hello@garden.example>"


def test_mail_files_search_export_is_served_by_gingee_serve(tutorial, serve, client) -> None:
    run = tutorial("05-mail-files-and-search")
    assert main(["grant", str(run.workdir), "garden", "db", "mail", "storage", "search"]) == 0
    server = serve(run.workdir, dev=False)

    def url(path: str) -> str:
        return server.url(f"/garden{path}")

    # The notebook's picture is in the exported store, served with its type and its ETag.
    picture = client.get(url("/members/1/photo"))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    again = client.get(url("/members/1/photo"), headers={"If-None-Match": picture.headers["etag"]})
    assert again.status_code == 304
    # The notebook's index is in the exported SQLite file, and the hits come highlighted.
    assert client.get(url("/search"), params={"q": "zurich"}).json() == {
        "total": 1,
        "hits": [{"id": "2", "title": "Book the Zürich seed fair", "match": {"title": ZURICH}}],
    }
    # A new member gets the welcome mail, in the served app's outbox; a bad address gets none.
    grace = client.post(url("/members"), json={"name": "Grace", "email": "grace@example.com"})
    assert grace.status_code == 201 and grace.json()["id"] == 2, grace.text
    bob = client.post(url("/members"), json={"name": "Bob", "email": "bob"})
    assert bob.status_code == 422 and bob.json()["error"] == "INVALID_EMAIL"
    outbox = server.project.shared[OUTBOXES]["garden"]
    assert [(m.mail.subject, m.mail.recipients) for m in outbox] == [
        ("Welcome to the garden club, Grace!", ["grace@example.com"])
    ]
    assert client.post(url("/invite"), json={"email": "alan@example.com"}).json() == {
        "invited": ["alan@example.com"]
    }
    assert len(outbox) == 2
    # Grace's picture streams in and back; text is refused.
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    put = client.put(url("/members/2/photo"), content=png, headers={"Content-Type": "image/png"})
    assert put.status_code == 200, put.text
    assert client.get(url("/members/2/photo")).content == png
    text = client.put(url("/members/2/photo"), content=b"hi", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415 and text.json()["error"] == "NOT_AN_IMAGE"
    # A new todo is found at once.
    added = client.post(url("/todos"), json={"title": "Return the library books"})
    assert added.status_code == 201, added.text
    hits = client.get(url("/search"), params={"q": "librar*"}).json()["hits"]
    assert [h["match"] for h in hits] == [{"title": "Return the <mark>library</mark> books"}]
