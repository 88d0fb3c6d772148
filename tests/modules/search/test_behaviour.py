"""One behaviour suite, run on the sqlite driver (FTS5, embedded) and on PostgreSQL (the machine's server,
GINGEE_TEST_POSTGRES_URL, as the db tests use it): what an app relies on holds the same on both.

It runs on Elasticsearch or OpenSearch too, live, only when GINGEE_SEARCH_URL names a server
(GINGEE_SEARCH_DRIVER=opensearch for OpenSearch; elasticsearch by default): no engine can be installed on
the machines this project is tested on, so there the "engine" cases are skipped, and the driver is checked
against a loopback recorder instead (test_elastic.py). Relevance on those engines is unverified here."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gingee_kernel import search
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ModuleConfigError, PermissionDenied
from gingee_kernel.modules import db
from tests.fixtures.apps import MakeApp

DOCS = [
    {
        "id": 1,
        "title": "Zürich old town",
        "body": "trams and a café by the lake",
        "lang": "de",
        "published": True,
    },
    {"id": 2, "title": "東京都の夜", "body": "neon lights", "lang": "ja", "published": True},
    {
        "id": 3,
        "title": "Redis streams",
        "body": "foo-bar keys and a:b pairs",
        "lang": "en",
        "published": False,
    },
    {
        "id": 4,
        "title": "Black cat",
        "body": "a cat that is black, and a dog",
        "lang": "en",
        "published": True,
    },
    {
        "id": 5,
        "title": "Dog food",
        "body": "redis is mentioned in the body only",
        "lang": "en",
        "published": True,
    },
]


ENGINE_URL = os.environ.get("GINGEE_SEARCH_URL")
ENGINE = os.environ.get("GINGEE_SEARCH_DRIVER", "elasticsearch")


def sql_only(driver: str) -> None:
    """Skip a case that is about the SQL drivers' own guarantees (the app's transaction, rebuilds)."""
    if driver == "engine":
        pytest.skip(f"{ENGINE} cannot join a database transaction or rebuild from stored rows")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "engine"])
async def app_for(request: pytest.FixtureRequest, make_app: MakeApp) -> AsyncIterator[Callable[..., Any]]:
    driver = request.param
    url = os.environ.get("GINGEE_TEST_POSTGRES_URL")
    if driver == "postgres" and not url:
        pytest.skip("GINGEE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    if driver == "engine" and not ENGINE_URL:
        pytest.skip(
            "GINGEE_SEARCH_URL is not set: no Elasticsearch/OpenSearch server runs here (the driver's "
            "requests are checked in test_elastic.py; relevance on those engines is unverified)"
        )
    made: list[Any] = []
    name = f"s{uuid.uuid4().hex[:10]}"  # one app per test: its tables are its own

    def factory(fields: dict[str, Any] | None = None, grants: set[str] | None = None, **extra: Any) -> Any:
        entry = {
            "name": "articles",
            "driver": ENGINE if driver == "engine" else driver,
            "fields": fields or {"title": {"weight": 3}, "body": {}},
            "filters": ["lang", "published"],
            **extra,
        }
        config: dict[str, Any] = {"search": [entry]}
        if driver == "postgres":
            config["db"] = [{"name": "main", "url": url}]
        else:
            config["db"] = [{"name": "main"}]
        server = {"search": {ENGINE: {"url": ENGINE_URL, "index_prefix": "gingee-test-"}}}
        app = make_app(
            name,
            config=config,
            server=server if driver == "engine" else None,
            grants=grants if grants is not None else {"search", "db"},
        )
        app.state["test.driver"] = driver
        made.append(app)
        return app

    yield factory
    if driver == "engine":
        await drop_engine_indexes(name)
    for app in made:
        if driver == "postgres" and "db" in app.grants:
            with app_context(app):
                await db.execute("main", f"DROP TABLE IF EXISTS gingee_search_{name}_articles_docs")
                await db.execute(
                    "main", "DELETE FROM gingee_search_meta WHERE name LIKE :n", {"n": f"%{name}%"}
                )
        await app.close()


async def drop_engine_indexes(app_name: str) -> None:
    """Delete the engine index the test's app created, by its full name (Elasticsearch 8 refuses wildcard
    deletes by default)."""
    if ENGINE == "opensearch":
        from opensearchpy import AsyncOpenSearch as Client
    else:
        from elasticsearch import AsyncElasticsearch as Client
    client = Client(ENGINE_URL)
    try:
        await client.indices.delete(index=f"gingee-test-{app_name}-articles", ignore_unavailable=True)
    finally:
        await client.close()


async def ids(q: str, **kw: Any) -> list[str]:
    return [hit.id for hit in (await search.query("articles", q, **kw)).hits]


async def test_words_phrases_prefix_exclusion_or(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        assert await search.index("articles", DOCS) == 5
        assert await search.count("articles") == 5
        assert sorted(await ids("black cat")) == ["4"]
        assert await ids('"cat black"') == []
        assert await ids('"black cat"') == ["4"]
        assert await ids("tram*") == ["1"]
        assert sorted(await ids("redis")) == ["3", "5"]
        assert await ids("redis -streams") == ["5"]
        assert sorted(await ids("cat OR neon")) == ["2", "4"]
        assert await ids("-redis") == []  # only exclusions: nothing


async def test_title_weight_ranks_first(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", DOCS)
        assert await ids("redis") == ["3", "5"]  # in the title (weight 3) before in the body


async def test_upsert_and_delete(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", DOCS)
        await search.index("articles", {"id": 4, "title": "White cat", "body": "", "lang": "en"})
        assert await ids("black") == []
        found = await search.query("articles", "white")
        assert [h.id for h in found.hits] == ["4"] and found.hits[0].fields["title"] == "White cat"
        assert await search.delete("articles", [4, "nope"]) == 1
        assert await ids("white") == [] and await search.count("articles") == 4


async def test_diacritics_cjk_and_malformed_text(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", DOCS)
        assert await ids("zurich") == ["1"] and await ids("cafe") == ["1"] and await ids("ZÜRICH") == ["1"]
        assert await ids("東京") == ["2"] and await ids("京都") == ["2"] and await ids("大阪") == []
        assert await ids("foo-bar") == ["3"] and await ids("a:b") == ["3"]
        assert sorted(await ids("redis AND (")) == ["3", "5"]
        for odd in ['"unclosed', "OR", "* - OR -", "(((", "NEAR(a b)", "title:cat", "^cat", "'", "\\"]:
            await search.query("articles", odd)  # never raises
        with pytest.raises(search.InvalidQuery, match="at most 512"):
            await search.query("articles", "x" * 513)


async def test_emails_urls_and_dotted_names_are_found_by_their_words(app_for: Callable[..., Any]) -> None:
    """PostgreSQL's parser would keep each of these as one token (email, URL, host): the same words find
    them on every driver."""
    with app_context(app_for()):
        body = "see https://docs.example.com/guide and foo.bar"
        await search.index("articles", {"id": 1, "title": "mail ada@example.org", "body": body})
        for q in ["ada", "example", "ada@example.org", "guide", "https://docs.example.com/guide", "bar"]:
            assert await ids(q) == ["1"], q
        assert await ids("ada@example.com") == []
        title = (await search.query("articles", "ada")).hits[0].highlights["title"]
        assert title == "mail <mark>ada</mark>@example.org"  # the separators never show


async def test_filters(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", DOCS)
        assert sorted(await ids("redis OR cat", filters={"lang": "en"})) == ["3", "4", "5"]
        assert sorted(await ids("redis OR cat", filters={"published": True})) == ["4", "5"]
        assert sorted(await ids("zurich OR neon", filters={"lang": ["de", "ja"]})) == ["1", "2"]
        assert await ids("redis", filters={"published": 1}) == []  # true is not 1
        with pytest.raises(search.InvalidQuery, match="'author' is not a filter field"):
            await search.query("articles", "cat", filters={"author": "ada"})


async def test_pages_by_cursor(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", [{"id": n, "title": f"page item {n}"} for n in range(25)])
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await search.query("articles", "item", limit=10, cursor=cursor)
            assert page.total == 25
            seen += [h.id for h in page.hits]
            pages += 1
            cursor = page.cursor
            if cursor is None:
                break
        assert pages == 3 and sorted(seen, key=int) == [str(n) for n in range(25)]
        first = await search.query("articles", "item", limit=10)
        with pytest.raises(search.InvalidQuery, match="another query"):
            await search.query("articles", "page", limit=10, cursor=first.cursor)


async def test_highlights_are_safe_html(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", {"id": "x", "title": "cat & <script>alert(1)</script>", "body": "dog"})
        hit = (await search.query("articles", "cat")).hits[0]
        assert "<mark>cat</mark>" in hit.highlights["title"]
        assert "<script>" not in hit.highlights["title"]
        assert "body" not in hit.highlights  # only fields that matched
        assert (await search.query("articles", "cat", highlight=False)).hits[0].highlights == {}


async def test_a_bad_doc_fails_its_batch_and_is_named(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        await search.index("articles", DOCS[:1])
        bad_batches = [
            ([DOCS[1], {"title": "no id"}], "doc #1", "id"),
            ([DOCS[1], {"id": 9, "titel": "typo"}], "doc #1 (id '9')", "titel"),
            ([DOCS[1], {"id": 9, "title": 42}], "doc #1 (id '9')", "title"),
            ([DOCS[1], {"id": 9, "lang": {1, 2}}], "doc #1 (id '9')", "lang"),
        ]
        for batch, which, field in bad_batches:
            with pytest.raises(search.InvalidDocument) as caught:
                await search.index("articles", batch)
            assert which in str(caught.value) and caught.value.field == field
            assert "articles" in str(caught.value)
        assert await search.count("articles") == 1  # nothing of any bad batch was indexed


async def test_index_shares_the_apps_transaction(app_for: Callable[..., Any]) -> None:
    app = app_for()
    sql_only(app.state["test.driver"])
    with app_context(app):
        with pytest.raises(RuntimeError):
            async with db.transaction("main") as tx:
                await search.index("articles", DOCS[:2], tx=tx)
                raise RuntimeError("the app's own write failed")
        assert await search.count("articles") == 0
        async with db.transaction("main") as tx:
            await search.index("articles", DOCS[:2], tx=tx)
        assert await ids("zurich") == ["1"]


async def test_changed_fields_rebuild_from_stored_docs(app_for: Callable[..., Any]) -> None:
    app = app_for(fields={"title": {}}, stored=["summary"])
    sql_only(app.state["test.driver"])
    with app_context(app):
        await search.index("articles", {"id": 1, "title": "Kafka", "summary": "an event log"})
        assert await ids("event") == []
    with app_context(app_for(fields={"title": {}, "summary": {}})):
        assert await ids("event") == ["1"]


async def test_grants_and_unknown_indexes(app_for: Callable[..., Any]) -> None:
    with app_context(app_for(grants=set())), pytest.raises(PermissionDenied):
        await search.query("articles", "x")
    with app_context(app_for()), pytest.raises(ModuleConfigError, match="no search index named 'nope'"):
        await search.query("nope", "x")
