"""The elasticsearch and opensearch drivers, through the official async clients (`gingee[elasticsearch]`:
`elasticsearch.AsyncElasticsearch`; `gingee[opensearch]`: `opensearchpy.AsyncOpenSearch`), each imported
only when an index uses it.

**Client and server versions.** The elasticsearch client's major version must not exceed the server's: the
9.x client asks for `compatible-with=9`, which an Elasticsearch 8 server refuses (400
media_type_header_exception). For an 8.x server install the 8.x client:
`pip install 'elasticsearch[async]<9'`. The client also insists on the header `X-Elastic-Product:
Elasticsearch` in the server's answers, so it will not talk to OpenSearch: use driver "opensearch" there.
Both refusals come back as SearchUnavailable saying so.

**The index.** One engine index per declared index: `<index_prefix><app>-<name>`, lower-cased (so apps
`Shop` and `shop` would share one). It is created on first use (or its mapping extended with fields added
to app.json since; a field that changes meaning needs the index deleted and the docs indexed again). Each
engine document, under `_id` = the doc's id, holds:

    id       keyword: the id again, the tie-break of the sort (sorting on _id is disabled by default)
    doc      the doc as given, without id (not indexed, `enabled: false`): what a hit returns
    text.<f> each searched field as text.py segmented it, analysed by `gingee_text`
    filter.<f> each filter value as a keyword holding its JSON text (`"de"`, `1`, `true`), so a filter
             matches by exact JSON equality as on the SQL drivers: 1, "1" and true differ; a whole float
             is written as the int it equals (1.0 is 1). A None filter value is not indexed.

`gingee_text` is the pattern tokenizer `[^\\p{L}\\p{N}]+` (words are runs of letters and digits, exactly as
the query language reads them, text.tokens; the U+200B separators around CJK characters split too, so each
CJK character is a token), then lowercase and asciifolding (`zurich` finds Zürich, `cafe` café).

**Queries.** The parsed tree becomes a bool query: each AND group in `must` (a group of several OR terms
as a bool `should` with minimum_should_match 1), exclusions in `must_not`, filters in `filter`. A word is
a multi_match over `text.<f>^<weight>`; a phrase multi_match type phrase; a prefix type bool_prefix (one
word: no expansion limit) or phrase_prefix (a phrase ending in a prefix: its last word expands to at most
50 terms, the engine's default). Hits are sorted by `_score` then `id`; totals are counted up to 10,000
(past that `total_exact` is False). Highlights come from the engine with text.py's markers as tags.

**Writes are not atomic.** index() and delete() send `_bulk` requests of at most 500 docs (or 8 MB) with
`refresh=wait_for`, so a query right after sees them. A bulk request cannot be rolled back: when the
engine refuses some docs (IndexRefused, `failures` naming each) the other docs of the batch *were*
written; this is the one exception to "a failed batch indexes none". Docs the engine rejected because it
is overloaded (429) or failing (5xx) raise SearchUnavailable instead: index the batch again (it replaces
docs by id), which index_later's job does by itself. `tx=` is refused: it is for sqlite and postgres.

The clients retry a dropped connection once and never retry a 429 or 5xx themselves (the caller, or
index_later, decides).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ...errors import ModuleConfigError
from .base import Doc, Hit, IndexSpec, Page, Search, SearchDriver
from .cursor import MAX_OFFSET
from .errors import IndexRefused, SearchError, SearchUnavailable
from .query import Term
from .settings import IndexSettings
from .text import CLOSE, OPEN

T = TypeVar("T")
ANALYZER = "gingee_text"
WORDS = r"[^\p{L}\p{N}]+"  # split on everything but letters and digits (text.tokens' rule)
BATCH_DOCS = 500
BATCH_BYTES = 8 * 1024 * 1024
FRAGMENT_CHARS = 150
_PRODUCTS = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}


# --- what is sent ----------------------------------------------------------------------------------------


def index_name(spec: IndexSpec, prefix: str) -> str:
    """The engine's index for `spec`."""
    return f"{prefix}{spec.app}-{spec.name}".lower()


def mappings(spec: IndexSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "keyword"},
        "doc": {"type": "object", "enabled": False},
        "text": {"properties": {f: {"type": "text", "analyzer": ANALYZER} for f in spec.fields}},
    }
    if spec.filters:
        properties["filter"] = {"properties": {f: {"type": "keyword"} for f in spec.filters}}
    return {"dynamic": False, "properties": properties}


def index_body(spec: IndexSpec) -> dict[str, Any]:
    """What creates the index: the analyzer and the mappings."""
    analysis = {
        "tokenizer": {"gingee_words": {"type": "pattern", "pattern": WORDS}},
        "analyzer": {
            ANALYZER: {"type": "custom", "tokenizer": "gingee_words", "filter": ["lowercase", "asciifolding"]}
        },
    }
    return {"settings": {"analysis": analysis}, "mappings": mappings(spec)}


def filter_value(value: Any) -> str:
    """A filter value as indexed and matched: its JSON text (a whole float as the int it equals)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return json.dumps(value, ensure_ascii=False)


def engine_doc(doc: Doc) -> dict[str, Any]:
    """The engine document of `doc` (see the module docstring)."""
    body: dict[str, Any] = {"id": doc.id, "doc": doc.source, "text": doc.text}
    filters = {k: filter_value(v) for k, v in doc.filters.items() if v is not None}
    if filters:
        body["filter"] = filters
    return body


def _ndjson(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)


def _batches(docs: Sequence[Doc]) -> Iterator[list[tuple[str, str]]]:
    """(id, NDJSON of its action and document) in batches of at most BATCH_DOCS docs or BATCH_BYTES."""
    batch: list[tuple[str, str]] = []
    size = 0
    for doc in docs:
        lines = _ndjson([{"index": {"_id": doc.id}}, engine_doc(doc)])
        if batch and (len(batch) == BATCH_DOCS or size + len(lines.encode()) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((doc.id, lines))
        size += len(lines.encode())
    if batch:
        yield batch


def term_query(term: Term, fields: list[str]) -> dict[str, Any]:
    """One word, phrase or prefix of the query over the searched fields (words are letters and digits)."""
    clause: dict[str, Any] = {"query": " ".join(term.words), "fields": fields}
    if term.prefix:
        clause["type"] = "phrase_prefix" if term.phrase else "bool_prefix"
    elif term.phrase:
        clause["type"] = "phrase"
    else:
        clause["operator"] = "and"
    return {"multi_match": clause}


def search_body(spec: IndexSpec, plan: Search) -> dict[str, Any]:
    """The `_search` body of `plan`."""
    fields = [f"text.{name}^{weight:g}" for name, weight in spec.fields.items()]
    must = []
    for group in plan.query.groups:
        clauses = [term_query(term, fields) for term in group]
        must.append(
            clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}
        )
    boolean: dict[str, Any] = {"must": must}
    if plan.query.excluded:
        boolean["must_not"] = [term_query(term, fields) for term in plan.query.excluded]
    if plan.filters:
        boolean["filter"] = [
            {"term": {f"filter.{name}": filter_value(values[0])}}
            if len(values) == 1
            else {"terms": {f"filter.{name}": [filter_value(v) for v in values]}}
            for name, values in plan.filters.items()
        ]
    body: dict[str, Any] = {
        "query": {"bool": boolean},
        "from": plan.offset,
        "size": plan.limit,
        "track_total_hits": MAX_OFFSET,
        "sort": [{"_score": "desc"}, {"id": "asc"}],
        "_source": ["doc"],
    }
    if plan.highlight:
        body["highlight"] = {
            "pre_tags": [OPEN],
            "post_tags": [CLOSE],
            "fields": {
                f"text.{name}": {"number_of_fragments": 1, "fragment_size": FRAGMENT_CHARS}
                for name in spec.fields
            },
        }
    return body


def page_of(answer: dict[str, Any]) -> Page:
    """The Page of a `_search` answer: hits with the raw highlights (markers), and the total."""
    found = answer.get("hits") or {}
    hits = []
    for hit in found.get("hits") or []:
        score = hit.get("_score")
        if score is None:
            score = (hit.get("sort") or [0])[0]
        highlights = {
            name.removeprefix("text."): fragments[0]
            for name, fragments in (hit.get("highlight") or {}).items()
            if name.startswith("text.") and fragments
        }
        source = (hit.get("_source") or {}).get("doc") or {}
        hits.append(Hit(str(hit["_id"]), float(score or 0), dict(source), highlights))
    total = found.get("total") or {}
    if isinstance(total, int):
        return Page(hits, total)
    return Page(hits, int(total.get("value") or 0), total.get("relation", "eq") == "eq")


# --- the driver ------------------------------------------------------------------------------------------


class ElasticDriver(SearchDriver):
    """One index of one app on Elasticsearch or OpenSearch."""

    def __init__(self, settings: IndexSettings, section: dict[str, Any]) -> None:
        self.name = settings.driver
        self.spec = settings.spec
        self.settings = settings
        self.product = _PRODUCTS[self.name]
        self.url = _with_port(str(section["url"]), settings.where)
        self.index_name = index_name(self.spec, str(section.get("index_prefix", "gingee-")))
        self.where = f"search: index {self.spec.name!r} ({self.name} index {self.index_name!r})"
        self.client, self._errors, self._unsupported, self.client_major = _client(settings, section, self.url)

    async def prepare(self) -> None:
        """Check the server, then create the index (or add new fields to its mapping)."""
        info = await self._call(self.client.info())
        number = str((info.get("version") or {}).get("number") or "")
        major = int(number.split(".")[0]) if number.split(".")[0].isdigit() else None
        if self.name == "elasticsearch" and major is not None and major < self.client_major:
            raise SearchUnavailable(_too_new(self.url, number, self.client_major), index=self.spec.name)
        if await self._call(self.client.indices.exists(index=self.index_name)):
            try:
                await self.client.indices.put_mapping(index=self.index_name, body=mappings(self.spec))
            except self._errors as exc:
                hint = (
                    "; the index exists with another mapping: delete it (then index the docs again) or set "
                    "another index_prefix"
                )
                raise self._mapped(exc, hint if _failure(exc)[0] == 400 else "") from exc
            return
        try:
            await self.client.indices.create(index=self.index_name, body=index_body(self.spec))
        except self._errors as exc:
            if _failure(exc)[1] != "resource_already_exists_exception":  # created meanwhile: fine
                raise self._mapped(exc) from exc

    async def index(self, docs: Sequence[Doc], tx: Any = None) -> int:
        self._refuse(tx)
        done = 0
        for batch in _batches(docs):
            body = "".join(lines for _, lines in batch)
            items = await self._bulk(body, done, "indexed")
            self._check(items, "index", len(docs))
            done += len(batch)
        return done

    async def delete(self, ids: Sequence[str], tx: Any = None) -> int:
        self._refuse(tx)
        removed = 0
        for start in range(0, len(ids), BATCH_DOCS):
            chunk = ids[start : start + BATCH_DOCS]
            items = await self._bulk(_ndjson([{"delete": {"_id": i}} for i in chunk]), start, "deleted")
            self._check(items, "delete", len(ids))
            removed += sum(1 for item in items if (item.get("delete") or {}).get("result") == "deleted")
        return removed

    async def search(self, search: Search) -> Page:
        answer = await self._call(
            self.client.search(index=self.index_name, body=search_body(self.spec, search))
        )
        return page_of(answer)

    async def count(self) -> int:
        answer = await self._call(self.client.count(index=self.index_name))
        return int(answer["count"])

    async def close(self) -> None:
        await self.client.close()

    # -- inside --------------------------------------------------------------------------------------------

    def _refuse(self, tx: Any) -> None:
        if tx is not None:
            raise SearchError(
                f"{self.where}: tx= is only for the sqlite and postgres drivers; {self.product} cannot join "
                "a database transaction, so index after the transaction commits",
                index=self.spec.name,
            )

    async def _bulk(self, body: str, done: int, what: str) -> list[dict[str, Any]]:
        after = (
            f"; {done} docs of this batch were already {what} (a bulk cannot be rolled back)" if done else ""
        )
        answer = await self._call(
            self.client.bulk(index=self.index_name, body=body, refresh="wait_for"), after=after
        )
        return list(answer.get("items") or [])

    def _check(self, items: list[dict[str, Any]], action: str, total: int) -> None:
        """Raise for the items the engine did not write (a delete of an unknown id is not an error)."""
        failures = []
        for item in items:
            result = item.get(action) or next(iter(item.values()), {})
            error = result.get("error")
            if error:
                kind, reason = _error_of({"error": error})
                status = int(result.get("status") or 0)
                said = f"{kind}: {reason}" if reason else kind
                failures.append({"id": str(result.get("_id")), "status": status, "reason": said})
        if not failures:
            return
        first = failures[0]
        what = "indexed" if action == "index" else "deleted"
        said = (
            f"{len(failures)} of the {total} docs of this batch, first {first['id']!r} "
            f"({first['status']} {first['reason']})"
        )
        if all(f["status"] == 429 or f["status"] >= 500 for f in failures):
            raise SearchUnavailable(
                f"{self.where}: {self.product} is overloaded or failing and did not write {said}; the others "
                f"were {what}; send the batch again later (it replaces docs by id)",
                index=self.spec.name,
            )
        raise IndexRefused(
            f"{self.where}: {self.product} refused {said}; the other docs of the batch were {what} "
            f"({self.product} cannot roll back a bulk request); fix the refused docs and send them again",
            index=self.spec.name,
            failures=failures,
        )

    async def _call(self, pending: Awaitable[T], after: str = "") -> Any:
        try:
            answer = await pending
        except self._errors as exc:
            raise self._mapped(exc, after) from exc
        return getattr(answer, "body", answer)  # elasticsearch wraps answers, opensearch-py does not

    def _mapped(self, exc: BaseException, after: str = "") -> SearchError:
        """The one place a client error becomes a search error."""
        where, index = self.where, self.spec.name
        if isinstance(exc, self._unsupported):
            return SearchUnavailable(
                f"{where}: the server at {self.url} did not answer as Elasticsearch (no X-Elastic-Product: "
                'Elasticsearch header); if it is OpenSearch, set "driver": "opensearch"',
                index=index,
            )
        status, kind, reason = _failure(exc)
        said = f"{status} {kind}" + (f": {reason}" if reason else "")
        if status == 0:
            return SearchUnavailable(
                f"{where}: could not reach {self.url} ({kind}: {reason}); check the url and that "
                f"{self.product} is up{after}",
                index=index,
            )
        if kind == "media_type_header_exception":
            return SearchUnavailable(_too_new(self.url, "older", self.client_major, said), index=index)
        if status in (401, 403):
            return SearchUnavailable(
                f"{where}: {self.product} refused the credentials ({said}); check api_key, or username and "
                f'password, in the "{self.name}" section (app.json search[] or gingee.json search), and that '
                f"they may read, write and manage index {self.index_name!r}{after}",
                index=index,
            )
        if status == 429 or status >= 500:
            return SearchUnavailable(
                f"{where}: {self.product} is overloaded or failing ({said}); try again later{after}",
                index=index,
            )
        if kind == "index_not_found_exception":
            return SearchError(
                f"{where}: the index no longer exists on {self.url}; reload the app to create it again, then "
                f"index the docs{after}",
                index=index,
            )
        return SearchError(f"{where}: {self.product} refused the request ({said}){after}", index=index)


async def open_elastic_driver(settings: IndexSettings, section: dict[str, Any]) -> SearchDriver:
    """The driver of one index, its index created if missing; the client is closed if that fails."""
    driver = ElasticDriver(settings, section)
    try:
        await driver.prepare()
    except BaseException:
        await driver.close()
        raise
    return driver


# --- the clients -----------------------------------------------------------------------------------------


def _client(
    settings: IndexSettings, section: dict[str, Any], url: str
) -> tuple[Any, tuple[type, ...], tuple[type, ...], int]:
    """(client, the exceptions it raises, the product-check exception, its major version)."""
    api_key, username = section.get("api_key"), section.get("username")
    password = section.get("password")
    where = f"{settings.where}.{settings.driver}"
    if api_key and (username or password):
        raise ModuleConfigError(f"{where}: set api_key, or username and password, not both")
    if password and not username:
        raise ModuleConfigError(f"{where}: a password needs its username")
    options: dict[str, Any] = {"max_retries": 1, "retry_on_status": (), "retry_on_timeout": False}
    if "verify_certs" in section:
        options["verify_certs"] = bool(section["verify_certs"])
    if settings.driver == "elasticsearch":
        elasticsearch, transport = _imported(where, "elasticsearch", "elasticsearch", "elastic_transport")
        if api_key:
            options["api_key"] = str(api_key)
        elif username:
            options["basic_auth"] = (str(username), str(password or ""))
        client = elasticsearch.AsyncElasticsearch(url, request_timeout=settings.timeout, **options)
        errors = (elasticsearch.ApiError, transport.TransportError)
        major = int(elasticsearch.__versionstr__.split(".")[0])
        return client, errors, (elasticsearch.UnsupportedProductError,), major
    (opensearchpy,) = _imported(where, "opensearch", "opensearchpy")
    if api_key:
        raise ModuleConfigError(
            f"{where}: OpenSearch signs in with username and password; api_key is for Elasticsearch"
        )
    if username:
        options["http_auth"] = (str(username), str(password or ""))
    client = opensearchpy.AsyncOpenSearch([url], timeout=settings.timeout, **options)
    major = int(str(opensearchpy.__versionstr__).split(".")[0])
    return client, (opensearchpy.OpenSearchException,), (), major


def _imported(where: str, extra: str, *modules: str) -> list[Any]:
    """The client's modules, imported only for the flavour an index uses."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError as exc:
        raise ModuleConfigError(
            f"{where}: the {extra} client is not installed ({exc}); pip install 'gingee[{extra}]'"
        ) from None


def _with_port(url: str, where: str) -> str:
    """`url` with its port written out (the clients would otherwise assume 9200, even for https)."""
    parts = urlsplit(url.rstrip("/"))
    try:
        port = parts.port
    except ValueError:
        raise ModuleConfigError(f"{where}: the url {url!r} has a bad port") from None
    if port is None:
        parts = parts._replace(netloc=f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}")
    return urlunsplit(parts)


def _too_new(url: str, server: str, client_major: int, said: str = "") -> str:
    detail = f" ({said})" if said else ""
    return (
        f"search: the Elasticsearch server at {url} is {server} than the elasticsearch client "
        f"{client_major}.x{detail}; the client's major version must not exceed the server's: for an "
        f"Elasticsearch 8 server, pip install 'elasticsearch[async]<9'"
    )


def _failure(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, or 0 when no answer came; the engine's error type; its reason) of a client error."""
    meta = getattr(exc, "meta", None)
    status: Any = getattr(meta, "status", None)
    body = getattr(exc, "body", None)
    if status is None:  # opensearch-py: status_code is "N/A" when no answer came
        status, body = getattr(exc, "status_code", None), getattr(exc, "info", None)
    if isinstance(status, bool) or not isinstance(status, int):
        return 0, type(exc).__name__, str(exc)
    kind, reason = _error_of(body)
    return status, kind or type(exc).__name__, reason


def _error_of(body: Any) -> tuple[str, str]:
    """(type, reason) of an engine's error answer `{"error": {"type", "reason", "caused_by"}}`."""
    error = body.get("error") if isinstance(body, dict) else body
    if isinstance(error, dict):
        reason = str(error.get("reason") or "")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            reason = f"{reason} ({cause.get('type')}: {cause['reason']})" if reason else str(cause["reason"])
        return str(error.get("type") or ""), reason
    return "", "" if error is None else str(error)[:300]
