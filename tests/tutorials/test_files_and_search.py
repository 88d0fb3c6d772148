"""Notebooks 04 (files and images) and 05 (a search box): what they show, and their exports served."""

from __future__ import annotations

import json

from gingee_kernel.cli import main


def test_files_tutorial_serves_its_upload_back_and_gingee_serve_keeps_the_store(
    tutorial, serve, client
) -> None:
    run = tutorial("04-files-and-images")
    nb, tmp_path, out = run.nb, run.workdir, run.outputs_by_cell()
    shown = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert len(shown) == 1  # the picture came back through send_object and was displayed
    assert "HTTP 415" in out['text = {"Content-Type": "text/plain"}']
    assert (
        "(206, 'bytes 0-7/" in out['etag = back.headers["ETag"]']
        and ", 304)" in out['etag = back.headers["ETag"]']
    )
    assert "'box/routes/upload.py'" in out['folder = app.export("web")']
    routes = json.loads((tmp_path / "web/gallery/box/routes.json").read_text())["routes"]
    assert {"path": "/images/:name", "method": "PUT", "body": "stream"}.items() <= routes[0].items()

    assert main(["grant", str(tmp_path), "gallery", "storage"]) == 0
    server = serve(tmp_path, dev=False)
    # The notebook's upload is in the exported app's store, and a new one streams in and back.
    assert [i["key"] for i in client.get(server.url("/gallery/images")).json()] == ["gradient.png"]
    assert client.get(server.url("/gallery/images/gradient.png")).content.startswith(b"\x89PNG\r\n\x1a\n")
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    put = client.put(
        server.url("/gallery/images/new.png"), content=picture, headers={"Content-Type": "image/png"}
    )
    assert put.status_code == 200, put.text
    assert client.get(server.url("/gallery/images/new.png")).content == picture


def test_search_tutorial_finds_its_todos_and_gingee_serve_answers_the_same(tutorial, serve, client) -> None:
    run = tutorial("05-a-search-box")
    tmp_path, out = run.workdir, run.outputs_by_cell()
    assert '"title": "Buy oat <mark>milk</mark>"' in out['@app.route("/search")']
    [either] = [text for first, text in out.items() if "'zurich OR" in first]
    assert "Book the <mark>Zürich</mark> train" in either and "Buy <mark>oat milk</mark>" in either
    assert "<mark>東京</mark>" in out['app.call(search.query, "todos", "東京")']
    # Todo 1 is done: the open-only search keeps it out.
    finished = out['@app.route("/todos/:id/done", methods=["POST"])']
    assert '"total": 1' in finished and '"id": "3"' in finished and '"id": "1"' not in finished
    assert "({'index': 'todos', 'indexed': 5}, 5)" in out["from gingee_kernel import queue"]
    app_json = json.loads((tmp_path / "web/todos/box/app.json").read_text())
    assert app_json["search"] == [
        {"name": "todos", "fields": {"title": {"weight": 3}, "notes": {}}, "filters": ["done"]}
    ]

    assert main(["grant", str(tmp_path), "todos", "db", "search", "queue"]) == 0
    server = serve(tmp_path, dev=False)
    # The notebook's index is in the exported app's SQLite file; a new todo is found at once.
    found = client.get(server.url("/todos/search"), params={"q": "zurich"}).json()
    assert [h["id"] for h in found["hits"]] == ["2"]
    added = client.post(server.url("/todos/todos"), json={"title": "Return the library books"})
    assert added.status_code == 201, added.text
    found = client.get(server.url("/todos/search"), params={"q": "librar*", "open": "1"}).json()
    assert [h["title"] for h in found["hits"]] == ["Return the library books"]
    assert client.get(server.url("/todos/search"), params={"cursor": "forged"}).status_code == 400
