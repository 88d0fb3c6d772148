"""An app's OpenAPI 3.1 document from its routes, and request bodies checked against routes.json schemas."""

from __future__ import annotations

import httpx
import pytest

ITEM = {
    "type": "object",
    "required": ["name", "qty"],
    "properties": {"name": {"type": "string", "minLength": 1}, "qty": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}
ROUTES = {
    "routes": [
        {"path": "/items", "method": "POST", "script": "items.py", "handler": "create", "body": ITEM,
         "response": {"type": "object", "required": ["id"]}, "summary": "Add an item"},
        {"path": "/items/:id", "method": "GET", "script": "items.py", "handler": "show"},
        {"path": "/files/*", "method": "ALL", "script": "items.py", "handler": "show"},
        {"path": "/upload", "method": "PUT", "script": "items.py", "handler": "show", "body": "stream"},
    ]
}  # fmt: skip
ITEMS = """
calls = []

async def create(g):
    calls.append(g.request.body)
    return {"id": len(calls), "item": g.request.body}

async def show(g):
    return {"params": g.request.params, "calls": len(calls)}
"""


def _files(**app_json):
    return {
        "web/shop/box/app.json": {"name": "shop", "version": "1.2.0", **app_json},
        "web/shop/box/routes.json": ROUTES,
        "web/shop/box/items.py": ITEMS,
        "web/shop/box/hello.py": "def handle(g):\n    return 'hi'\n",
        "web/shop/box/lib/_helpers.py": "X = 1\n",
        "web/shop/box/jobs/nightly.py": "def handle(g):\n    return None\n",
    }


def test_the_document_lists_every_route_with_params_and_schemas(make_project, serve, client) -> None:
    server = serve(make_project(_files()), dev=False)
    reply = client.get(server.url("/shop/_gingee/openapi.json"))
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "shop" and doc["info"]["version"] == "1.2.0"
    assert doc["servers"] == [{"url": server.url("/shop")}]
    paths = doc["paths"]
    assert set(paths) == {"/items", "/items/{id}", "/files/{path}", "/files", "/upload", "/hello"}
    create = paths["/items"]["post"]
    assert create["summary"] == "Add an item"
    assert create["requestBody"]["content"]["application/json"]["schema"] == ITEM
    assert create["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "required": ["id"],
    }
    assert "422" in create["responses"]
    assert paths["/items/{id}"]["get"]["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert set(paths["/files/{path}"]) == {"get", "post", "put", "patch", "delete"}
    assert "application/octet-stream" in paths["/upload"]["put"]["requestBody"]["content"]
    assert set(paths["/hello"]) == {"get", "post", "put", "patch", "delete"}  # a file route takes any method
    # the document is one schemathesis (and every OpenAPI 3.1 tool) accepts
    import schemathesis

    operations = [result.ok() for result in schemathesis.openapi.from_dict(doc).get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in paths.values())


def test_a_body_that_fails_its_schema_is_422_with_the_pointer_before_the_script(
    make_project, serve, client
) -> None:
    server = serve(make_project(_files()), dev=False)
    bad = client.post(server.url("/shop/items"), json={"name": "tea", "qty": 0})
    assert bad.status_code == 422
    assert bad.json()["error"] == "INVALID_BODY" and bad.json()["pointer"] == "/qty"
    assert "minimum of 1" in bad.json()["reason"]
    assert client.post(server.url("/shop/items"), json={"name": "tea"}).json()["pointer"] == ""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(server.url("/shop/items"), content=b"qty=1", headers=form).status_code == 422
    assert client.get(server.url("/shop/items/1")).json()["calls"] == 0  # no bad body reached the script
    good = client.post(server.url("/shop/items"), json={"name": "tea", "qty": 2})
    assert good.status_code == 200 and good.json() == {"id": 1, "item": {"name": "tea", "qty": 2}}


def test_a_broken_schema_names_the_file_and_key(make_project, serve, client) -> None:
    files = _files()
    files["web/shop/box/routes.json"] = {
        "routes": [{"path": "/x", "script": "hello.py", "body": {"type": "nope"}}]
    }
    files["web/other/box/app.json"] = {"name": "other"}
    files["web/other/box/hello.py"] = "def handle(g):\n    return 'still here'\n"
    server = serve(make_project(files), dev=True)
    reply = client.get(server.url("/shop/x"))
    assert reply.status_code == 503
    assert "web/shop/box/routes.json: at /routes/0/body: a JSON Schema (2020-12)" in reply.json()["reason"]
    assert client.get(server.url("/other/hello")).text == "still here"


@pytest.mark.parametrize("public", [False, True])
def test_the_operator_sees_it_and_others_only_when_public(make_project, serve, client, public) -> None:
    files = {"gingee.json": {"admin": {"token": "op-secret-token-123"}}, **_files(openapi={"public": public})}
    server = serve(make_project(files), dev=False)
    anonymous = client.get(
        server.url("/shop/_gingee/openapi.json")
    )  # with a token set, loopback is not enough
    assert anonymous.status_code == (200 if public else 403)
    if not public:
        assert anonymous.json()["error"] == "ACCESS_DENIED"
    operator = client.get(
        server.url("/shop/_gingee/openapi.json"), headers={"Authorization": "Bearer op-secret-token-123"}
    )
    assert operator.status_code == 200 and "/items" in operator.json()["paths"]


def test_an_isolated_apps_document_comes_from_its_worker(make_project, serve, client: httpx.Client) -> None:
    server = serve(make_project({"gingee.json": {"isolation": {"mode": "process"}}, **_files()}), dev=False)
    doc = client.get(server.url("/shop/_gingee/openapi.json")).json()
    assert "/hello" in doc["paths"] and "/items/{id}" in doc["paths"]
    assert client.post(server.url("/shop/items"), json={"qty": "x"}).status_code == 422
