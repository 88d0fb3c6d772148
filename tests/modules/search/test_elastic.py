"""The elasticsearch and opensearch drivers against a loopback recorder.

No Elasticsearch or OpenSearch server can run here. These tests assert the requests the adapter sends (the
official clients, through the public `search` API) and how it handles the documented answers of both
engines, played by an HTTP server on 127.0.0.1 that records every request. They say nothing about
relevance, analysis or highlighting as the real engines do them.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ModuleConfigError
from gingee_kernel.modules import search
from gingee_kernel.modules.search_drivers.text import CLOSE, OPEN
from tests.fixtures.apps import MakeApp

INDEX = "gingee-shop-articles"
FIELDS = ["text.title^3", "text.body^1"]
NO_HITS = {"took": 1, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line]


@dataclass
class Engine:
    """What the recorder plays: Elasticsearch or OpenSearch of a version; `answers` are one-shot overrides
    `(method, path) -> (status, body)` served before the default answer."""

    flavour: str = "elasticsearch"
    version: str = "9.1.0"
    product_header: bool = True
    requests: list[Request] = field(default_factory=list)
    answers: dict[str, list[tuple[str | None, int, Any]]] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)
    url: str = ""

    def answer(self, path: str, status: int, body: Any, *, method: str | None = None) -> None:
        self.answers.setdefault(path, []).append((method, status, body))

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def bulks(self) -> list[Request]:
        """The `_bulk` requests (the elasticsearch client PUTs them, opensearch-py POSTs)."""
        return [r for r in self.requests if r.path == f"/{INDEX}/_bulk" and r.method in ("PUT", "POST")]

    def respond(self, request: Request) -> tuple[int, Any]:
        compat = re.search(r"compatible-with=(\d+)", request.headers.get("accept", ""))
        major = int(self.version.split(".")[0])
        if self.flavour == "elasticsearch" and compat and int(compat.group(1)) > major:
            accept = request.headers["accept"]
            reason = f"Accept version must be either version {major} or {major - 1}, but found "
            return 400, _error("media_type_header_exception", f"{reason}{compat.group(1)}. Accept={accept}")
        queued = self.answers.get(request.path) or []
        for position, (method, status, body) in enumerate(queued):
            if method in (None, request.method):
                del queued[position]
                return status, body
        method, path = request.method, request.path
        if (method, path) == ("GET", "/"):
            return 200, self.info()
        name = path.strip("/").split("/")[0]
        if method == "HEAD":
            return (200 if name in self.indexes else 404), None
        if method == "PUT" and path == f"/{name}":
            if name in self.indexes:
                return 400, _error("resource_already_exists_exception", f"index [{name}] already exists")
            self.indexes.add(name)
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if method == "PUT" and path.endswith("/_mapping"):
            return 200, {"acknowledged": True}
        if path.endswith("/_bulk"):
            return 200, self.bulk(request.ndjson())
        if path.endswith("/_search"):
            return 200, NO_HITS
        if path.endswith("/_count"):
            return 200, {"count": len(self.docs), "_shards": {"total": 1, "successful": 1}}
        return 404, _error("no_handler_found_exception", f"no handler for {method} {path}")

    def info(self) -> dict[str, Any]:
        if self.flavour == "opensearch":
            version = {"distribution": "opensearch", "number": self.version}
            return {"name": "node-1", "cluster_name": "test", "version": version,
                    "tagline": "The OpenSearch Project: https://opensearch.org/"}  # fmt: skip
        version = {"number": self.version, "build_flavor": "default", "lucene_version": "10.2.2"}
        return {
            "name": "node-1",
            "cluster_name": "test",
            "version": version,
            "tagline": "You Know, for Search",
        }

    def bulk(self, lines: list[Any]) -> dict[str, Any]:
        items = []
        while lines:
            action = lines.pop(0)
            (kind, meta), = action.items()  # fmt: skip
            doc_id = meta["_id"]
            if kind == "index":
                created = doc_id not in self.docs
                self.docs[doc_id] = lines.pop(0)
                result = {"result": "created" if created else "updated", "status": 201 if created else 200}
            else:
                found = self.docs.pop(doc_id, None) is not None
                result = (
                    {"result": "deleted", "status": 200} if found else {"result": "not_found", "status": 404}
                )
            items.append({kind: {"_index": INDEX, "_id": doc_id, "_version": 1, **result}})
        return {"took": 3, "errors": False, "items": items}


def _error(kind: str, reason: str, status: int = 400) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def _handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request(self.command, parts.path, dict(parse_qsl(parts.query)),
                              {k.lower(): v for k, v in self.headers.items()}, body)  # fmt: skip
            engine.requests.append(request)
            status, answer = engine.respond(request)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if engine.flavour == "elasticsearch" and engine.product_header:
                self.send_header("X-Elastic-Product", "Elasticsearch")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
async def engine_for() -> AsyncIterator[Callable[..., Engine]]:
    servers: list[ThreadingHTTPServer] = []

    def start(**options: Any) -> Engine:
        engine = Engine(**options)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(engine))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        engine.url = f"http://127.0.0.1:{server.server_address[1]}"
        return engine

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def app_on(make_app: MakeApp) -> AsyncIterator[Callable[..., AppRuntime]]:
    apps: list[AppRuntime] = []

    def factory(engine: Engine, **section: Any) -> AppRuntime:
        entry = {
            "name": "articles",
            "driver": engine.flavour,
            "fields": {"title": {"weight": 3}, "body": {}},
            "filters": ["lang"],
            "stored": ["url"],
            engine.flavour: {"url": engine.url, **section},
        }
        server = {"egress": {"allow_cidrs": ["127.0.0.1/32"]}}
        app = make_app("shop", config={"search": [entry]}, server=server, grants={"search"})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.close()


@pytest.fixture(params=["elasticsearch", "opensearch"])
def engine(request: pytest.FixtureRequest, engine_for: Callable[..., Engine]) -> Engine:
    if request.param == "opensearch":
        return engine_for(flavour="opensearch", version="2.19.1")
    return engine_for()


def searched(engine: Engine) -> dict[str, Any]:
    """The body of the last `_search`."""
    return engine.sent("POST", f"/{INDEX}/_search")[-1].json()


def word(text: str, kind: str | None = None) -> dict[str, Any]:
    clause: dict[str, Any] = {"query": text, "fields": FIELDS}
    clause.update({"type": kind} if kind else {"operator": "and"})
    return {"multi_match": clause}


# --- the index ----------------------------------------------------------------------------------------------


async def test_first_use_creates_the_index_with_the_analyzer_and_mappings(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    with app_context(app_on(engine)):
        assert await search.count("articles") == 0
    assert [(r.method, r.path) for r in engine.requests] == [
        ("GET", "/"), ("HEAD", f"/{INDEX}"), ("PUT", f"/{INDEX}"), ("POST", f"/{INDEX}/_count"),
    ]  # fmt: skip
    created = engine.sent("PUT", f"/{INDEX}")[0].json()
    assert created == {
        "settings": {
            "analysis": {
                "tokenizer": {"gingee_words": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}},
                "analyzer": {
                    "gingee_text": {
                        "type": "custom",
                        "tokenizer": "gingee_words",
                        "filter": ["lowercase", "asciifolding"],
                    }
                },
            }
        },
        "mappings": {
            "dynamic": False,
            "properties": {
                "id": {"type": "keyword"},
                "doc": {"type": "object", "enabled": False},
                "text": {
                    "properties": {
                        "title": {"type": "text", "analyzer": "gingee_text"},
                        "body": {"type": "text", "analyzer": "gingee_text"},
                    }
                },
                "filter": {"properties": {"lang": {"type": "keyword"}}},
            },
        },
    }


async def test_an_existing_index_gets_new_fields_added_to_its_mapping(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    engine.indexes.add(INDEX)
    with app_context(app_on(engine)):
        await search.count("articles")
    assert not engine.sent("PUT", f"/{INDEX}")
    (mapping,) = engine.sent("PUT", f"/{INDEX}/_mapping")
    assert mapping.json()["dynamic"] is False
    assert set(mapping.json()["properties"]) == {"id", "doc", "text", "filter"}


async def test_an_index_created_meanwhile_is_fine(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    engine.answer(f"/{INDEX}", 400, _error("resource_already_exists_exception", "exists"), method="PUT")
    with app_context(app_on(engine)):
        assert await search.count("articles") == 0


# --- writes -------------------------------------------------------------------------------------------------


async def test_index_sends_bulk_upserts_with_refresh_wait_for(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    docs = [
        {"id": 1, "title": "Zürich old town", "body": "東京都 <b>", "lang": "de", "url": "/z"},
        {"id": "b", "title": "Cafe", "body": None, "lang": 1},
    ]
    with app_context(app_on(engine)):
        assert await search.index("articles", docs) == 2
        assert await search.count("articles") == 2
    (bulk,) = engine.bulks()
    assert bulk.params == {"refresh": "wait_for"}
    assert bulk.body.endswith(b"\n")
    assert bulk.ndjson() == [
        {"index": {"_id": "1"}},
        {
            "id": "1",
            "doc": {"title": "Zürich old town", "body": "東京都 <b>", "lang": "de", "url": "/z"},
            "text": {"title": "Zürich old town", "body": "\u200b東\u200b\u200b京\u200b\u200b都\u200b <b>"},
            "filter": {"lang": '"de"'},
        },
        {"index": {"_id": "b"}},
        {"id": "b", "doc": {"title": "Cafe", "body": None, "lang": 1},
         "text": {"title": "Cafe", "body": ""}, "filter": {"lang": "1"}},
    ]  # fmt: skip


async def test_a_large_batch_goes_in_bulks_of_500(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    with app_context(app_on(engine)):
        assert await search.index("articles", [{"id": n, "title": f"t{n}"} for n in range(1201)]) == 1201
    sizes = [len(r.ndjson()) // 2 for r in engine.bulks()]
    assert sizes == [500, 500, 201]


async def test_filter_values_keep_their_json_type(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    docs = [{"id": 1, "lang": "1"}, {"id": 2, "lang": 1}, {"id": 3, "lang": 1.0}, {"id": 4, "lang": True},
            {"id": 5, "lang": 1.5}, {"id": 6, "lang": None}]  # fmt: skip
    with app_context(app_on(engine)):
        await search.index("articles", docs)
    lines = engine.bulks()[0].ndjson()[1::2]
    assert [line.get("filter") for line in lines] == [
        {"lang": '"1"'}, {"lang": "1"}, {"lang": "1"}, {"lang": "true"}, {"lang": "1.5"}, None,
    ]  # fmt: skip


async def test_delete_sends_bulk_deletes_and_counts_the_found(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    with app_context(app_on(engine)):
        await search.index("articles", [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}])
        assert await search.delete("articles", [1, "missing", 2]) == 2
    delete = engine.bulks()[-1]
    assert delete.params == {"refresh": "wait_for"}
    assert delete.ndjson() == [
        {"delete": {"_id": "1"}},
        {"delete": {"_id": "missing"}},
        {"delete": {"_id": "2"}},
    ]


async def test_refused_docs_raise_index_refused_naming_them(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    reason = "failed to parse field [text.title] of type [text]"
    items = [
        {"index": {"_index": INDEX, "_id": "1", "status": 201, "result": "created"}},
        {"index": {"_index": INDEX, "_id": "2", "status": 400,
                   "error": {"type": "document_parsing_exception", "reason": reason}}},
    ]  # fmt: skip
    engine.answer(f"/{INDEX}/_bulk", 200, {"took": 2, "errors": True, "items": items})
    with (
        app_context(app_on(engine)),
        pytest.raises(
            search.IndexRefused, match=r"refused 1 of the 2 docs of this batch, first '2'"
        ) as caught,
    ):
        await search.index("articles", [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}])
    assert caught.value.failures == [
        {"id": "2", "status": 400, "reason": f"document_parsing_exception: {reason}"}
    ]
    assert "the other docs of the batch were indexed" in str(caught.value)
    assert caught.value.index == "articles"


async def test_429_is_search_unavailable(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    rejected = _error("es_rejected_execution_exception", "rejected execution of coordinating operation", 429)
    engine.answer(f"/{INDEX}/_bulk", 429, rejected)
    app = app_on(engine)
    with app_context(app):
        with pytest.raises(
            search.SearchUnavailable, match=r"overloaded or failing .*429 es_rejected_execution"
        ):
            await search.index("articles", [{"id": 1, "title": "a"}])
        # the client does not retry by itself: index_later's job does
        assert len(engine.bulks()) == 1
        item = {"index": {"_id": "1", "status": 429, "error": {"type": "es_rejected_execution_exception",
                                                                "reason": "queue full"}}}  # fmt: skip
        engine.answer(f"/{INDEX}/_bulk", 200, {"took": 1, "errors": True, "items": [item]})
        with pytest.raises(
            search.SearchUnavailable, match=r"did not write 1 of the 1 docs .*send the batch again"
        ):
            await search.index("articles", [{"id": 1, "title": "a"}])
        engine.answer(f"/{INDEX}/_search", 503, _error("cluster_block_exception", "blocked", 503))
        with pytest.raises(search.SearchUnavailable, match="503 cluster_block_exception"):
            await search.query("articles", "cat")


async def test_a_later_bulk_failing_says_the_earlier_ones_were_written(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    engine.answer(f"/{INDEX}/_bulk", 200, {"took": 1, "errors": False, "items": []})
    engine.answer(f"/{INDEX}/_bulk", 502, _error("bad_gateway", "proxy", 502))
    already = "500 docs of this batch were already indexed"
    with app_context(app_on(engine)), pytest.raises(search.SearchUnavailable, match=already):
        await search.index("articles", [{"id": n, "title": "t"} for n in range(600)])


async def test_tx_is_refused(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    with app_context(app_on(engine)):
        with pytest.raises(search.SearchError, match="tx= is only for the sqlite and postgres drivers"):
            await search.index("articles", [{"id": 1}], tx=object())
        with pytest.raises(search.SearchError, match="tx= is only for the sqlite and postgres drivers"):
            await search.delete("articles", [1], tx=object())
    assert not engine.bulks()


# --- queries ------------------------------------------------------------------------------------------------


async def test_the_search_body_of_words(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    with app_context(app_on(engine)):
        found = await search.query("articles", "Zurich tram", highlight=False)
    assert (found.hits, found.total, found.total_exact, found.cursor) == ([], 0, True, None)
    assert searched(engine) == {
        "query": {"bool": {"must": [word("Zurich"), word("tram")]}},
        "from": 0,
        "size": 10,
        "track_total_hits": 10000,
        "sort": [{"_score": "desc"}, {"id": "asc"}],
        "_source": ["doc"],
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"old town"', {"must": [word("old town", "phrase")]}),
        ("foo-bar", {"must": [word("foo bar", "phrase")]}),
        ("caf*", {"must": [word("caf", "bool_prefix")]}),
        ('"old to"*', {"must": [word("old to", "phrase")]}),
        ("old-to*", {"must": [word("old to", "phrase_prefix")]}),
        ('zurich -tram -"hot dog"', {"must": [word("zurich")],
                                     "must_not": [word("tram"), word("hot dog", "phrase")]}),
        ("cat OR dog food", {"must": [{"bool": {"should": [word("cat"), word("dog")],
                                                "minimum_should_match": 1}}, word("food")]}),
        ("東京", {"must": [word("東 京", "phrase")]}),
        ('title:"x" {"a": 1}', {"must": [word("title x", "phrase"), word("a"), word("1")]}),
    ],
)  # fmt: skip
async def test_the_query_tree_in_the_search_body(
    engine: Engine, app_on: Callable[..., AppRuntime], q: str, expected: dict[str, Any]
) -> None:
    with app_context(app_on(engine)):
        await search.query("articles", q)
    assert searched(engine)["query"] == {"bool": expected}


async def test_filters_go_in_the_filter_clause(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    with app_context(app_on(engine)):
        await search.query("articles", "zurich", filters={"lang": "de"})
        assert searched(engine)["query"]["bool"]["filter"] == [{"term": {"filter.lang": '"de"'}}]
        await search.query("articles", "zurich", filters={"lang": ["de", 1, True, 2.0]})
        assert searched(engine)["query"]["bool"]["filter"] == [
            {"terms": {"filter.lang": ['"de"', "1", "true", "2"]}}
        ]


async def test_only_exclusions_send_no_request(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    with app_context(app_on(engine)):
        await search.count("articles")
        before = len(engine.requests)
        found = await search.query("articles", "-tram")
    assert (found.hits, found.total) == ([], 0)
    assert len(engine.requests) == before


def hits_answer(ids: list[str], total: int, relation: str = "eq", **highlight: str) -> dict[str, Any]:
    hits = []
    for i in ids:
        hit: dict[str, Any] = {"_index": INDEX, "_id": i, "_score": 2.5, "sort": [2.5, i],
                               "_source": {"doc": {"title": f"t{i}", "url": "/u"}}}  # fmt: skip
        if highlight:
            hit["highlight"] = {f"text.{k}": [v] for k, v in highlight.items()}
        hits.append(hit)
    return {
        "took": 1,
        "timed_out": False,
        "hits": {"total": {"value": total, "relation": relation}, "hits": hits},
    }


async def test_pages_follow_the_cursor(engine: Engine, app_on: Callable[..., AppRuntime]) -> None:
    engine.answer(f"/{INDEX}/_search", 200, hits_answer(["1", "2"], 5))
    engine.answer(f"/{INDEX}/_search", 200, hits_answer(["3", "4"], 5))
    engine.answer(f"/{INDEX}/_search", 200, hits_answer(["5"], 10000, "gte"))
    with app_context(app_on(engine)):
        first = await search.query("articles", "cat", limit=2)
        assert [h.id for h in first.hits] == ["1", "2"] and first.total == 5 and first.cursor
        assert first.hits[0].score == 2.5 and first.hits[0].fields == {"title": "t1", "url": "/u"}
        second = await search.query("articles", "cat", limit=2, cursor=first.cursor)
        assert [h.id for h in second.hits] == ["3", "4"] and second.cursor
        third = await search.query("articles", "cat", limit=2, cursor=second.cursor)
        assert (third.total, third.total_exact, third.cursor) == (10000, False, None)
    pages = [(r.json()["from"], r.json()["size"]) for r in engine.sent("POST", f"/{INDEX}/_search")]
    assert pages == [(0, 2), (2, 2), (4, 2)]


async def test_highlights_are_asked_with_the_markers_and_come_back_safe(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    title = f"{OPEN}Zürich{CLOSE} <script>alert(1)</script>"
    body = f"\u200b東\u200b\u200b{OPEN}京{CLOSE}\u200b & more"
    engine.answer(f"/{INDEX}/_search", 200, hits_answer(["1"], 1, title=title, body=body))
    engine.answer(f"/{INDEX}/_search", 200, hits_answer(["1"], 1, title="no match here"))
    with app_context(app_on(engine)):
        (hit,) = (await search.query("articles", "zurich 京")).hits
        assert hit.highlights == {
            "title": "<mark>Zürich</mark> &lt;script&gt;alert(1)&lt;/script&gt;",
            "body": "東<mark>京</mark> &amp; more",
        }
        assert searched(engine)["highlight"] == {
            "pre_tags": [OPEN],
            "post_tags": [CLOSE],
            "fields": {
                "text.title": {"number_of_fragments": 1, "fragment_size": 150},
                "text.body": {"number_of_fragments": 1, "fragment_size": 150},
            },
        }
        (plain,) = (await search.query("articles", "zurich")).hits
        assert plain.highlights == {}


# --- connecting ---------------------------------------------------------------------------------------------


async def test_credentials_and_the_compatibility_header_reach_the_engine(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime]
) -> None:
    es = engine_for()
    with app_context(app_on(es, api_key="a2V5OnNlY3JldA==")):
        await search.count("articles")
    assert {r.headers["authorization"] for r in es.requests} == {"ApiKey a2V5OnNlY3JldA=="}
    assert es.requests[0].headers["accept"] == "application/vnd.elasticsearch+json; compatible-with=9"
    opensearch = engine_for(flavour="opensearch", version="3.1.0")
    with app_context(app_on(opensearch, username="ada", password="pw")):
        await search.count("articles")
    assert {r.headers["authorization"] for r in opensearch.requests} == {"Basic YWRhOnB3"}


async def test_opensearch_refuses_an_api_key(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime]
) -> None:
    app = app_on(engine_for(flavour="opensearch"), api_key="k")
    with app_context(app), pytest.raises(ModuleConfigError, match="api_key is for Elasticsearch"):
        await search.count("articles")


async def test_a_server_without_the_product_header_is_unavailable(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime]
) -> None:
    engine = engine_for(product_header=False)
    with (
        app_context(app_on(engine)),
        pytest.raises(
            search.SearchUnavailable, match=r'not answer as Elasticsearch .*"driver": "opensearch"'
        ),
    ):
        await search.count("articles")
    assert [(r.method, r.path) for r in engine.requests] == [("GET", "/")]


async def test_an_elasticsearch_8_server_asks_for_the_8_client(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime]
) -> None:
    with (
        app_context(app_on(engine_for(version="8.19.2"))),
        pytest.raises(search.SearchUnavailable, match=r"pip install 'elasticsearch\[async\]<9'") as caught,
    ):
        await search.count("articles")
    assert "media_type_header_exception" in str(caught.value)


async def test_an_unreachable_engine_is_unavailable(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime]
) -> None:
    engine = engine_for()
    engine.url = "http://127.0.0.1:9"  # discard: nothing listens
    with app_context(app_on(engine)), pytest.raises(search.SearchUnavailable, match="could not reach"):
        await search.count("articles")


async def test_bad_credentials_say_where_to_fix_them(
    engine: Engine, app_on: Callable[..., AppRuntime]
) -> None:
    engine.answer("/", 401, _error("security_exception", "unable to authenticate user [ada]", 401))
    with (
        app_context(app_on(engine)),
        pytest.raises(
            search.SearchUnavailable, match=f'refused the credentials .*"{engine.flavour}" section'
        ),
    ):
        await search.count("articles")


async def test_a_missing_client_says_what_to_install(
    engine_for: Callable[..., Engine], app_on: Callable[..., AppRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opensearchpy", None)  # import opensearchpy raises ImportError
    app = app_on(engine_for(flavour="opensearch"))
    with app_context(app), pytest.raises(ModuleConfigError, match=r"pip install 'gingee\[opensearch\]'"):
        await search.count("articles")
