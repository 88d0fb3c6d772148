"""Gingee's search module against hand-written full-text SQL on the same data, side by side in one run:
the sqlite driver against FTS5 written by hand, and the postgres driver against a tsvector column with a
GIN index written by hand.

    python bench/search.py [--docs 50000] [--queries 200] [--batch 1000] [--seed 7] [--rounds 1]
                           [--postgres-url URL] [--no-postgres] [--by-kind] [--dir DIR] [--json]

Data: `--docs` generated documents (seeded, so every run indexes the same ones): an int id, a title of 2-6
words, a body of 8-30 words and a `lang` filter, the words drawn with a Zipf-like law from a vocabulary
of made-up ASCII words, words with diacritics (café, zürich, são ...) and CJK words (東京, 検索, 数据库
...). `--queries` queries, in turn: one word, two words (AND), a phrase, a prefix (`ab*`), a word with
diacritics typed without them (`zurich`), a CJK word, and one word with a `lang` filter.

Each side indexes the docs in `--batch` batches (one call, one transaction each), timed (docs/s); then
runs every query once untimed (its answers are the ones compared), then once timed with highlights (as a
search box asks) and once timed without; p50 and p99 of the per-query latency. Every query asks for a
ranked top 10 and the total number of matches.

gingee: an app built with AppRuntime in a temporary folder (`search` and `db` grants), one index
`articles` (title weight 3, body 1, filter lang), `search.index("articles", batch)` and
`search.query("articles", q, limit=10)`.

plain, sqlite: one FTS5 table (title, body, lang UNINDEXED; tokenize 'unicode61 remove_diacritics 2',
rowid = the doc's id, its rank set to bm25(3.0, 1.0)) in its own SQLite file with the same connection
settings (WAL, busy timeout). Both sides index the same tokens: the plain side segments the text with
gingee's own `text.segment` (CJK characters set apart by U+200B, as a developer would have to do anyway
for unicode61 to find 東京 in 東京都). Upsert is INSERT OR REPLACE in one transaction per batch. A query
is one SELECT with snippet() of both fields, `ORDER BY rank LIMIT 10`, and a count(*) of the matches
when the page is full (gingee skips the count on a short page too); the MATCH text is written by hand
from the query's words, each quoted. Rows come back through aiosqlite, the driver gingee's SQLAlchemy
engine uses underneath (one connection, one thread hop per statement). A third side, "thread", does the
same with the stdlib sqlite3 and `asyncio.to_thread` per statement, the least any async server pays.

plain, PostgreSQL (`--postgres-url`, default $GINGEE_TEST_POSTGRES_URL or
postgresql://postgres@127.0.0.1:5432/test; `--no-postgres` skips it): one table (id, title, body, lang,
tsv a generated column setweight(title, 'A') || setweight(body, 'B')), a GIN index on tsv, a text search
configuration of its own built like gingee's (simple with unaccent first), the same segmented text;
to_tsquery, ts_rank with gingee's weights, ts_headline over the top 10 only, LIMIT 10 and the count.
asyncpg directly, as gingee's SQLAlchemy engine uses it underneath (one connection, its statement cache).
INSERT ... ON CONFLICT DO UPDATE with executemany, one transaction per batch. After indexing, outside
the clock, both tables are ANALYZEd (what autovacuum does soon after a bulk load), so both sides plan
their queries from statistics, not from whether autovacuum happened to run yet.

Ratios: index gingee/plain docs/s; latency plain/gingee. On both, >= 0.8 means gingee is at least 80%
as fast as the hand-written SQL (the issue's goal). Each round indexes everything afresh, the order of
the sides rotating; the medians of `--rounds` are printed.

Checked: every query's total is the same on both sides, as are the top-10 scores; the ids are the same
except among docs tied at the 10th score (neither side promises an order there: gingee breaks ties by
id, the plain SQL leaves them to the engine); the fields and highlights of a doc both return are the
same. A difference fails the run (exit 1). All tables the run creates are dropped at the end, gingee's
(gingee_search_<app>_articles_docs and its gingee_search_meta row) included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gingee_kernel import search
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.config import server_config
from gingee_kernel.engine.context import app_context
from gingee_kernel.modules.search_drivers.text import SEPARATOR, segment

GOAL = 0.8
LIMIT = 10
INDEX = "articles"
LANGS = ("en", "de", "fr", "ja", "zh")
DEFAULT_PG = os.environ.get("GINGEE_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"

#: Words with diacritics that decompose (NFKD), so FTS5's remove_diacritics and PostgreSQL's unaccent
#: fold them alike (no ß, ł or ø: unaccent folds those, FTS5 does not).
DIACRITICS = [
    "café",
    "zürich",
    "naïve",
    "são",
    "façade",
    "résumé",
    "jalapeño",
    "crème",
    "brûlée",
    "ångström",
    "kraków",
    "málaga",
    "gödel",
    "dvořák",
    "mañana",
    "über",
    "fiancée",
    "smörgåsbord",
    "piñata",
    "déjà",
    "señor",
    "garçon",
    "müller",
    "köln",
    "münchen",
    "genève",
    "québec",
    "montréal",
    "bogotá",
    "medellín",
    "reykjavík",
    "göteborg",
    "malmö",
    "århus",
    "rôle",
    "pâté",
    "soufflé",
    "entrée",
    "élan",
    "niño",
    "añejo",
    "açaí",
    "fête",
    "château",
    "forêt",
    "hôtel",
    "zoë",
    "noël",
]
#: CJK words (Han, kana): each character is a token of its own once segmented.
CJK = [
    "東京",
    "検索",
    "数据库",
    "北京",
    "大阪",
    "京都",
    "日本語",
    "中文",
    "漢字",
    "東京都",
    "服务器",
    "搜索引擎",
    "新幹線",
    "寿司",
    "電車",
    "图书馆",
    "学生",
    "先生",
    "天気",
    "花火",
    "上海",
    "深圳",
    "香港",
    "台北",
    "世界",
    "电脑",
    "手机",
    "音楽",
    "映画",
    "写真",
    "会社",
    "大学",
    "研究",
    "数据",
    "网络",
    "软件",
    "开发",
    "ラーメン",
    "カタカナ",
    "ひらがな",
    "コーヒー",
    "テスト",
    "サーバー",
]
KINDS = ("word", "and", "phrase", "prefix", "unaccented", "cjk", "filtered")

# Highlight markers of the plain sides (private use characters, as gingee does, so a doc's own `<` can be
# escaped before the markers become <mark>).
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
SNIPPET_TOKENS = 24
HEADLINE = f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, MaxWords=24, MinWords=8"
# ts_rank's {D, C, B, A}: title (weight 3) is A, body (weight 1) is B at 1/3, as gingee computes them.
PG_WEIGHTS = "{0.0, 0.0, " + str(1 / 3) + ", 1.0}"


class Mismatch(Exception):
    """The two sides answered a query differently."""


# --- data -----------------------------------------------------------------------------------------------


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Made-up ASCII words and the diacritic and CJK words, in a random order (the order is the Zipf rank)."""
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 4)
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        if rng.random() < 0.3:
            word += rng.choice("nrst")
        words.add(word)
    vocab = sorted(words) + DIACRITICS + CJK
    rng.shuffle(vocab)
    return vocab


@dataclass
class Corpus:
    vocab: list[str]
    docs: list[dict[str, Any]]
    words: list[list[str]]  # each doc's words, title then body, as drawn


def corpus(n: int, seed: int) -> Corpus:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cum: list[float] = []
    total = 0.0
    for rank in range(len(vocab)):
        total += 1 / (rank + 2)
        cum.append(total)
    docs, words = [], []
    for i in range(n):
        title = rng.choices(vocab, cum_weights=cum, k=rng.randint(2, 6))
        body = rng.choices(vocab, cum_weights=cum, k=rng.randint(8, 30))
        text = " ".join(w + ("," if rng.random() < 0.08 else "") for w in body) + "."
        docs.append(
            {
                "id": i + 1,
                "title": " ".join([title[0].capitalize(), *title[1:]]),
                "body": text[0].upper() + text[1:],
                "lang": rng.choice(LANGS),
            }
        )
        words.append(title + body)
    return Corpus(vocab, docs, words)


def tokens(word: str) -> list[str]:
    """The tokens of one word as the index holds them: itself, or each CJK character."""
    return segment(word).replace(SEPARATOR, " ").split()


def unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@dataclass
class BenchQuery:
    """One query: gingee's text (and filter), and the same written by hand for FTS5 and for to_tsquery."""

    kind: str
    text: str
    fts: str
    tsquery: str
    lang: str | None = None

    @property
    def filters(self) -> dict[str, str] | None:
        return None if self.lang is None else {"lang": self.lang}


def _fts_term(words: Sequence[str], prefix: bool = False) -> str:
    toks = [t for w in words for t in tokens(w)]
    return '"' + " ".join(toks) + '"' + ("*" if prefix else "")


def _ts_term(words: Sequence[str], prefix: bool = False) -> str:
    toks = [f"'{t}'" for w in words for t in tokens(w)]
    if prefix:
        toks[-1] += ":*"
    return "(" + " <-> ".join(toks) + ")"


def queries(data: Corpus, n: int, seed: int) -> list[BenchQuery]:
    rng = random.Random(seed + 1)
    ascii_words = [w for w in data.vocab if w.isascii()]
    out: list[BenchQuery] = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        pick = rng.randrange(len(data.docs))
        drawn = data.words[pick]
        if kind in ("word", "filtered"):
            word = rng.choice(data.vocab) if kind == "word" else rng.choice(drawn)
            lang = data.docs[pick]["lang"] if kind == "filtered" else None
            out.append(BenchQuery(kind, word, _fts_term([word]), _ts_term([word]), lang))
        elif kind == "and":
            a, b = rng.sample(sorted(set(drawn)), 2)
            fts = f"{_fts_term([a])} AND {_fts_term([b])}"
            out.append(BenchQuery(kind, f"{a} {b}", fts, f"{_ts_term([a])} & {_ts_term([b])}"))
        elif kind == "phrase":
            body = drawn[len(drawn) - 8 :]  # the body's last words (a body has at least 8)
            at = rng.randrange(len(body) - 1)
            pair = body[at : at + 2]
            out.append(BenchQuery(kind, '"' + " ".join(pair) + '"', _fts_term(pair), _ts_term(pair)))
        elif kind == "prefix":
            prefix = rng.choice(ascii_words)[: 2 + i % 2]
            out.append(BenchQuery(kind, prefix + "*", _fts_term([prefix], True), _ts_term([prefix], True)))
        elif kind == "unaccented":
            word = unaccented(rng.choice(DIACRITICS))
            out.append(BenchQuery(kind, word, _fts_term([word]), _ts_term([word])))
        else:
            word = rng.choice(CJK)
            out.append(BenchQuery(kind, word, _fts_term([word]), _ts_term([word])))
    return out


# --- what a query answers -------------------------------------------------------------------------------


@dataclass
class Answer:
    total: int
    ids: list[str]
    scores: list[float]
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    highlights: dict[str, dict[str, str]] = field(default_factory=dict)


def safe_snippet(raw: str | None) -> str | None:
    """A plain side's snippet as a page can show it: separators out, HTML-escaped, markers as <mark>."""
    if not raw or MARK_OPEN not in raw:
        return None
    text = html.escape(raw.replace(SEPARATOR, "").replace(MARK_CLOSE + MARK_OPEN, ""), quote=False)
    return text.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")


def plain_answer(rows: Sequence[Sequence[Any]], total: int, highlight: bool, sign: float) -> Answer:
    """id, title, body, lang, rank[, title snippet, body snippet] rows as an Answer."""
    answer = Answer(total, [str(r[0]) for r in rows], [sign * float(r[4]) for r in rows])
    for r in rows:
        key = str(r[0])
        answer.fields[key] = {"title": r[1].replace(SEPARATOR, ""), "body": r[2].replace(SEPARATOR, "")}
        answer.fields[key]["lang"] = r[3]
        if highlight:
            marks = {"title": safe_snippet(r[5]), "body": safe_snippet(r[6])}
            answer.highlights[key] = {k: v for k, v in marks.items() if v is not None}
    return answer


def segmented(batch: Sequence[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    return [(d["id"], segment(d["title"]), segment(d["body"]), d["lang"]) for d in batch]


# --- the sides ------------------------------------------------------------------------------------------


class Side:
    """One way to index and query the docs; `context` is entered around each timed phase."""

    name = ""

    async def open(self) -> None:
        """Create the tables (outside the clock)."""

    async def index(self, batch: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def query(self, q: BenchQuery, highlight: bool) -> Answer:
        raise NotImplementedError

    async def settle(self) -> None:
        """After indexing, outside the clock: what a server's database does on its own by then."""

    async def close(self) -> None:
        """Close connections and drop what was created."""

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        yield


def make_app(root: Path, driver: str, pg_url: str | None) -> AppRuntime:
    """A one-index app under `root`, granted `search` and `db`, as the loader would build it."""
    name = f"bench{uuid.uuid4().hex[:8]}"  # its own tables on a shared PostgreSQL
    folder = root / "web" / name
    (folder / "box").mkdir(parents=True, exist_ok=True)
    entry = {
        "name": INDEX,
        "driver": driver,
        "fields": {"title": {"weight": 3}, "body": {}},
        "filters": ["lang"],
    }
    database = {"name": "main", "url": pg_url} if driver == "postgres" else {"name": "main"}
    config = {"name": name, "search": [entry], "db": [database]}
    grants = frozenset({"search", "db"})
    return AppRuntime(name, folder, config, server_config(None), grants, project_dir=root)


class GingeeSide(Side):
    name = "gingee"

    def __init__(self, root: Path, driver: str, pg_url: str | None) -> None:
        self.driver, self.pg_url = driver, pg_url
        self.app = make_app(root, driver, pg_url)

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        with app_context(self.app):
            yield

    async def open(self) -> None:
        with app_context(self.app):
            await search.count(INDEX)  # the driver and its tables, created on first use

    async def index(self, batch: Sequence[dict[str, Any]]) -> None:
        await search.index(INDEX, batch)

    async def query(self, q: BenchQuery, highlight: bool) -> Answer:
        found = await search.query(INDEX, q.text, filters=q.filters, limit=LIMIT, highlight=highlight)
        answer = Answer(found.total, [h.id for h in found.hits], [h.score for h in found.hits])
        for h in found.hits:
            answer.fields[h.id] = h.fields
            if highlight:
                answer.highlights[h.id] = h.highlights
        return answer

    @property
    def table(self) -> str:
        return f"gingee_search_{self.app.name}_{INDEX}"

    async def settle(self) -> None:
        if self.driver == "postgres":  # autovacuum's ANALYZE, done now so both sides plan alike
            await pg_execute(self.pg_url or "", f'ANALYZE "{self.table}_docs"')

    async def close(self) -> None:
        await self.app.close()
        if self.driver == "postgres":
            await pg_execute(
                self.pg_url or "",
                f'DROP TABLE IF EXISTS "{self.table}_docs"',
                f"DELETE FROM gingee_search_meta WHERE name = '{self.table}'",
            )


async def pg_execute(url: str, *statements: str) -> None:
    """Run statements on a connection of their own (gingee's tables, from outside the app)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def fts_schema(table: str) -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE {table} USING fts5(title, body, lang UNINDEXED, "
        "tokenize = 'unicode61 remove_diacritics 2')",
        f"INSERT INTO {table} ({table}, rank) VALUES ('rank', 'bm25(3.0, 1.0, 0.0)')",
    ]


def fts_select(table: str, q: BenchQuery, highlight: bool) -> tuple[str, str, list[Any]]:
    """The ranked top 10 and the count, written by hand, and their parameters."""
    where = f"{table} MATCH ?" + (" AND lang = ?" if q.lang else "")
    params: list[Any] = [q.fts] + ([q.lang] if q.lang else [])
    snippets = ""
    if highlight:
        snippets = "".join(
            f", snippet({table}, {c}, '{MARK_OPEN}', '{MARK_CLOSE}', '…', {SNIPPET_TOKENS})" for c in (0, 1)
        )
    select = (
        f"SELECT rowid, title, body, lang, rank{snippets} FROM {table} WHERE {where} "
        f"ORDER BY rank LIMIT {LIMIT}"
    )
    return select, f"SELECT count(*) FROM {table} WHERE {where}", params


class FtsSide(Side):
    """FTS5 by hand, through aiosqlite (the driver under gingee's engine): one connection."""

    name = "plain"
    table = "docs"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: Any = None

    async def open(self) -> None:
        import aiosqlite

        self.conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self.conn.execute("PRAGMA busy_timeout = 5000")
        await self.conn.execute("PRAGMA journal_mode = WAL")
        for sql in fts_schema(self.table):
            await self.conn.execute(sql)

    async def index(self, batch: Sequence[dict[str, Any]]) -> None:
        rows = segmented(batch)
        await self.conn.execute("BEGIN")
        await self.conn.executemany(
            f"INSERT OR REPLACE INTO {self.table} (rowid, title, body, lang) VALUES (?, ?, ?, ?)", rows
        )
        await self.conn.execute("COMMIT")

    async def query(self, q: BenchQuery, highlight: bool) -> Answer:
        select, count, params = fts_select(self.table, q, highlight)
        rows = list(await self.conn.execute_fetchall(select, params))
        total = len(rows)
        if total == LIMIT:
            total = (await self.conn.execute_fetchall(count, params))[0][0]
        return plain_answer(rows, total, highlight, sign=-1.0)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class ThreadSide(Side):
    """The same FTS5 SQL on the stdlib sqlite3, each statement in asyncio.to_thread."""

    name = "thread"
    table = "docs"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            for sql in fts_schema(self.table):
                conn.execute(sql)
            return conn

        self.conn = await asyncio.to_thread(connect)

    async def index(self, batch: Sequence[dict[str, Any]]) -> None:
        rows = segmented(batch)
        conn = self.conn
        assert conn is not None

        def write() -> None:
            conn.execute("BEGIN")
            try:
                conn.executemany(
                    f"INSERT OR REPLACE INTO {self.table} (rowid, title, body, lang) VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await asyncio.to_thread(write)

    async def query(self, q: BenchQuery, highlight: bool) -> Answer:
        conn = self.conn
        assert conn is not None
        select, count, params = fts_select(self.table, q, highlight)
        rows = await asyncio.to_thread(lambda: conn.execute(select, params).fetchall())
        total = len(rows)
        if total == LIMIT:
            total = await asyncio.to_thread(lambda: conn.execute(count, params).fetchone()[0])
        return plain_answer(rows, total, highlight, sign=-1.0)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy-style URL (postgresql+asyncpg://) as asyncpg takes it."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


class PgSide(Side):
    """A tsvector column with a GIN index by hand, through asyncpg directly: one connection."""

    name = "plain"

    def __init__(self, url: str) -> None:
        self.url = url
        tag = uuid.uuid4().hex[:8]
        self.table = f"bench_search_plain_{tag}"
        self.config = f"bench_search_plain_{tag}"
        self.conn: Any = None

    async def open(self) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(asyncpg_dsn(self.url))
        cfg, table = self.config, self.table
        await self.conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        await self.conn.execute(f"CREATE TEXT SEARCH CONFIGURATION {cfg} (COPY = simple)")
        await self.conn.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {cfg} ALTER MAPPING FOR hword, hword_part, word "
            "WITH unaccent, simple"
        )
        await self.conn.execute(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, title text NOT NULL, body text NOT NULL, "
            f"lang text, tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('{cfg}', title), 'A') || "
            f"setweight(to_tsvector('{cfg}', body), 'B')) STORED)"
        )
        await self.conn.execute(f"CREATE INDEX ON {table} USING GIN (tsv)")

    async def index(self, batch: Sequence[dict[str, Any]]) -> None:
        rows = segmented(batch)
        async with self.conn.transaction():
            await self.conn.executemany(
                f"INSERT INTO {self.table} (id, title, body, lang) VALUES ($1, $2, $3, $4) ON CONFLICT (id) "
                "DO UPDATE SET title = excluded.title, body = excluded.body, lang = excluded.lang",
                rows,
            )

    async def query(self, q: BenchQuery, highlight: bool) -> Answer:
        cfg, table = self.config, self.table
        where = "t.tsv @@ q" + (" AND t.lang = $2" if q.lang else "")
        params: list[Any] = [q.tsquery] + ([q.lang] if q.lang else [])
        inner = (
            f"SELECT t.id, t.title, t.body, t.lang, ts_rank('{PG_WEIGHTS}', t.tsv, q) AS rank, q "
            f"FROM {table} t, to_tsquery('{cfg}', $1) q WHERE {where} ORDER BY rank DESC LIMIT {LIMIT}"
        )
        lines = ""
        if highlight:
            n = len(params) + 1
            lines = f", ts_headline('{cfg}', s.title, s.q, ${n}), ts_headline('{cfg}', s.body, s.q, ${n})"
        select = f"SELECT s.id, s.title, s.body, s.lang, s.rank{lines} FROM ({inner}) s ORDER BY s.rank DESC"
        rows = await self.conn.fetch(select, *params, *([HEADLINE] if highlight else []))
        total = len(rows)
        if total == LIMIT:
            count = f"SELECT count(*) FROM {table} t, to_tsquery('{cfg}', $1) q WHERE {where}"
            total = await self.conn.fetchval(count, *params)
        return plain_answer(rows, total, highlight, sign=1.0)

    async def settle(self) -> None:
        await self.conn.execute(f"ANALYZE {self.table}")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
            await self.conn.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {self.config}")
            await self.conn.close()


# --- checks ---------------------------------------------------------------------------------------------


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def compare(q: BenchQuery, mine: Answer, theirs: Answer, engine: str, side: str) -> list[str]:
    """What differs between gingee's answer and a plain side's (empty: the same)."""
    where = f"{engine}, {side}, {q.kind} {q.text!r}{f' lang={q.lang}' if q.lang else ''}"
    if mine.total != theirs.total:
        return [f"{where}: total {mine.total} (gingee) != {theirs.total}"]
    if len(mine.scores) != len(theirs.scores) or not all(map(_same, mine.scores, theirs.scores)):
        return [f"{where}: top-{LIMIT} scores differ: {mine.scores} (gingee) != {theirs.scores}"]
    problems = []
    if mine.scores:
        last = mine.scores[-1]
        full = len(mine.ids) == LIMIT
        sure = {i for i, s in zip(mine.ids, mine.scores, strict=True) if not (full and _same(s, last))}
        theirs_sure = {
            i for i, s in zip(theirs.ids, theirs.scores, strict=True) if not (full and _same(s, last))
        }
        if sure != theirs_sure:
            problems.append(f"{where}: ids above the 10th score differ: {sorted(sure ^ theirs_sure)}")
    for key in set(mine.ids) & set(theirs.ids):
        if mine.fields[key] != theirs.fields[key]:
            problems.append(f"{where}: doc {key}: fields {mine.fields[key]} != {theirs.fields[key]}")
        if mine.highlights.get(key) != theirs.highlights.get(key):
            problems.append(
                f"{where}: doc {key}: highlights {mine.highlights.get(key)} != {theirs.highlights.get(key)}"
            )
    return problems


# --- the run --------------------------------------------------------------------------------------------


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def measure(
    side: Side, docs: Sequence[dict[str, Any]], qs: Sequence[BenchQuery], batch: int
) -> dict[str, Any]:
    """Index `docs` (timed), then the queries untimed (the answers kept), with and without highlights."""
    await side.open()
    with side.context():
        started = time.perf_counter()
        for i in range(0, len(docs), batch):
            await side.index(docs[i : i + batch])
        index_s = time.perf_counter() - started
        await side.settle()
        answers = [await side.query(q, True) for q in qs]
        latency: dict[str, list[float]] = {}
        for highlight, key in ((True, "hl"), (False, "nohl")):
            times = []
            for q in qs:
                started = time.perf_counter()
                await side.query(q, highlight)
                times.append(time.perf_counter() - started)
            latency[key] = times
    return {"index_s": index_s, "latency": latency, "answers": answers}


def engine_sides(engine: str, here: Path, pg_url: str | None) -> dict[str, Callable[[], Side]]:
    if engine == "sqlite":
        return {
            "gingee": lambda: GingeeSide(here / "gingee", "sqlite", None),
            "plain": lambda: FtsSide(here / "plain.sqlite"),
            "thread": lambda: ThreadSide(here / "thread.sqlite"),
        }
    assert pg_url is not None
    return {
        "gingee": lambda: GingeeSide(here / "gingee-pg", "postgres", pg_url),
        "plain": lambda: PgSide(pg_url),
    }


async def one_round(
    args: argparse.Namespace, r: int, tmp: Path, data: Corpus, qs: list[BenchQuery], problems: list[str]
) -> dict[str, Any]:
    """Every side of every engine once, in an order that rotates with `r`."""
    here = tmp / f"r{r}"
    here.mkdir()
    engines = ["sqlite"] + ([] if args.no_postgres else ["postgres"])
    result: dict[str, Any] = {}
    for engine in engines:
        makers = engine_sides(engine, here, args.postgres_url)
        names = list(makers)
        order = names[r % len(names) :] + names[: r % len(names)]
        measured: dict[str, dict[str, Any]] = {}
        for name in order:
            side = makers[name]()
            try:
                measured[name] = await measure(side, data.docs, qs, args.batch)
            finally:
                await side.close()
        for name in names:
            if name != "gingee":
                for q, mine, theirs in zip(
                    qs, measured["gingee"]["answers"], measured[name]["answers"], strict=True
                ):
                    problems.extend(compare(q, mine, theirs, engine, name))
        for name, m in measured.items():
            result[f"{engine}_{name}"] = {
                "index_s": m["index_s"],
                "p50_ms": statistics.median(m["latency"]["hl"]) * 1000,
                "p99_ms": p99(m["latency"]["hl"]) * 1000,
                "p50_nohl_ms": statistics.median(m["latency"]["nohl"]) * 1000,
                "p99_nohl_ms": p99(m["latency"]["nohl"]) * 1000,
                "kind_p50_ms": {
                    kind: statistics.median(
                        t for q, t in zip(qs, m["latency"]["hl"], strict=True) if q.kind == kind
                    )
                    * 1000
                    for kind in KINDS
                },
                "totals": {
                    "median": statistics.median(a.total for a in m["answers"]),
                    "max": max(a.total for a in m["answers"]),
                },
            }
    shutil.rmtree(here, ignore_errors=True)
    return result


METRICS = (
    ("index", "index_s", "docs/s"),
    ("p50", "p50_ms", "ms"),
    ("p99", "p99_ms", "ms"),
    ("p50 no hl", "p50_nohl_ms", "ms"),
    ("p99 no hl", "p99_nohl_ms", "ms"),
)


def summarize(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds and the ratios (>= 1 means gingee is as fast), per engine and metric."""
    figures: dict[str, Any] = {}
    for engine in ("sqlite", "postgres"):
        if f"{engine}_gingee" not in rounds[0]:
            continue
        others = [
            k.split("_", 1)[1] for k in rounds[0] if k.startswith(engine + "_") and not k.endswith("gingee")
        ]
        for label, key, unit in METRICS:

            def value(r: dict[str, Any], side: str, key: str = key, engine: str = engine) -> float:
                v = r[f"{engine}_{side}"][key]
                return float(args.docs / v if key == "index_s" else v)

            row: dict[str, Any] = {"unit": unit}
            for side in ["gingee", *others]:
                row[side] = statistics.median(value(r, side) for r in rounds)
            for side in others:
                if key == "index_s":
                    row[f"ratio_{side}"] = row["gingee"] / row[side]
                    per = [value(r, "gingee") / value(r, side) for r in rounds]
                else:
                    row[f"ratio_{side}"] = row[side] / row["gingee"]
                    per = [value(r, side) / value(r, "gingee") for r in rounds]
                row[f"ratio_{side}_per_round"] = per
            figures[f"{engine} {label}"] = row
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any], rounds: list[dict[str, Any]]) -> None:
    print(
        f"{args.docs} docs, {args.queries} ranked top-{LIMIT} queries, batches of {args.batch}; "
        f"median of {args.rounds} round(s), the order of the sides rotating"
    )
    print(f"{'case':20} {'gingee':>14} {'plain':>14}  {'ratio':>6}  {'thread':>14}  {'ratio':>6}")
    for case, row in figures.items():
        unit = row["unit"]

        def fmt(v: float, unit: str = unit) -> str:
            return f"{v:,.0f} {unit}" if unit == "docs/s" else f"{v:.2f} {unit}"

        ratio = row["ratio_plain"]
        flag = "" if ratio >= GOAL else "  < goal"
        thread = f"  {fmt(row['thread']):>14}  {row['ratio_thread']:5.2f}x" if "thread" in row else ""
        print(f"{case:20} {fmt(row['gingee']):>14} {fmt(row['plain']):>14}  {ratio:5.2f}x{thread}{flag}")
    print(
        f"ratio: index gingee/plain docs/s, latency plain/gingee ms: >= {GOAL} means gingee is at least "
        f"{GOAL:.0%} as fast (the goal). plain: hand-written SQL through the same driver "
        "(aiosqlite, asyncpg); thread: the FTS5 SQL on sqlite3 in asyncio.to_thread. "
        "'no hl': highlight=False."
    )
    if args.by_kind:
        print("\np50 by query kind (ms, highlights on; round 1)")
        engines = sorted({k.split("_")[0] for k in rounds[0]}, key=["sqlite", "postgres"].index)
        print(f"{'kind':12}" + "".join(f" {e + ' gingee':>16} {e + ' plain':>15}" for e in engines))
        for kind in KINDS:
            cells = "".join(
                f" {rounds[0][f'{e}_gingee']['kind_p50_ms'][kind]:16.2f}"
                f" {rounds[0][f'{e}_plain']['kind_p50_ms'][kind]:15.2f}"
                for e in engines
            )
            print(f"{kind:12}{cells}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000, help="docs per index call (one transaction)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL case")
    parser.add_argument("--by-kind", action="store_true", help="also print p50 per query kind")
    parser.add_argument(
        "--dir", default=None, help="where the SQLite files go (default: the system's temp dir)"
    )
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON line at the end")
    args = parser.parse_args()
    data = corpus(args.docs, args.seed)
    qs = queries(data, args.queries, args.seed)
    rounds: list[dict[str, Any]] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gingee-bench-search-", dir=args.dir) as tmp:
        for r in range(args.rounds):
            rounds.append(await one_round(args, r, Path(tmp), data, qs, problems))
    figures = summarize(args, rounds)
    report(args, figures, rounds)
    if problems:
        print(f"\n{len(problems)} difference(s) between gingee and the plain SQL:", file=sys.stderr)
        for line in problems[:20]:
            print("  " + line, file=sys.stderr)
    if args.json:
        print(json.dumps({"args": vars(args), "rounds": rounds, "figures": figures, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
