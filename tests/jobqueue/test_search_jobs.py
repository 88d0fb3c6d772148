"""search.index_later through the queue (memory and arq drivers): the queued batch is searchable once the
job is done, bad docs are refused at once, a doc the index no longer takes goes to the dead-letter queue
without retries, and an engine that is down is retried before the job is dead."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gingee_kernel import queue, search
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.jobqueue.service import service_for
from tests.jobqueue.conftest import StartProject

DOCS = [
    {"id": 1, "title": "Zürich trams", "body": "blue and white"},
    {"id": 2, "title": "Lake boats", "body": "from the old town"},
]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notes(*, permissions: tuple[str, ...] = ("search", "queue", "db"), db: dict[str, Any] | None = None):
    index = {
        "name": "notes",
        "fields": {"title": {"weight": 2}, "body": {}},
        "queue": {"attempts": 2, "backoff_ms": 10},
    }
    if db is not None:
        index["driver"] = "postgres"
    return {
        "web/notes/box/app.json": {"name": "notes", "db": [db or {"name": "main"}], "search": [index]},
        "web/notes/box/pmft.json": {"permissions": {"mandatory": list(permissions)}},
    }


async def start(start_project: StartProject, files: dict[str, Any]) -> Any:
    project = await start_project(files, dev=True)
    assert "notes" in project.apps, project.errors
    return project.apps["notes"]


async def test_a_queued_batch_is_searchable_once_the_job_is_done(start_project: StartProject) -> None:
    app = await start(start_project, notes())
    with app_context(app):
        job = await search.index_later("notes", DOCS)
        assert await job.result(timeout=15) == {"index": "notes", "indexed": 2}
        found = await search.query("notes", "zurich")
        assert [h.id for h in found.hits] == ["1"] and found.hits[0].fields["title"] == "Zürich trams"
        assert await search.count("notes") == 2


async def test_bad_docs_are_refused_before_anything_is_queued(start_project: StartProject) -> None:
    app = await start(start_project, notes())
    with app_context(app):
        with pytest.raises(search.InvalidDocument, match=r"doc #1 \(id '7'\), field 'colour'"):
            await search.index_later("notes", [DOCS[0], {"id": 7, "title": "x", "colour": "red"}])
        assert (await queue.stats())["queued"] == 0


async def test_index_later_needs_the_queue_grant(start_project: StartProject) -> None:
    app = await start(start_project, notes(permissions=("search", "db")))
    with app_context(app), pytest.raises(PermissionDenied, match="queue"):
        await search.index_later("notes", DOCS)


async def test_a_doc_the_index_no_longer_takes_is_dead_at_once(start_project: StartProject) -> None:
    """A batch queued before a deploy dropped a field: retrying cannot help, so it is not retried."""
    app = await start(start_project, notes())
    with app_context(app):
        stale = {"index": "notes", "docs": [{"id": 3, "title": "x", "summary": "dropped field"}]}
        job = await service_for(app).add(app, search.JOB, stale, attempts=3, backoff=0.01)
        with pytest.raises(queue.JobFailed, match=r"InvalidDocument.*'summary'"):
            await job.result(timeout=15)
        [dead] = await queue.dlq.list()
        assert dead["id"] == job.id and dead["attempts_made"] == 1
        assert await search.count("notes") == 0


async def test_an_engine_that_is_down_is_retried_then_dead(start_project: StartProject) -> None:
    """PostgreSQL on a port nothing answers: every attempt is made, and the batch is kept in the dead-letter
    queue (never silently dropped), ready for queue.dlq.retry once the server is back."""
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    app = await start(start_project, notes(db={"name": "main", "url": url}))
    with app_context(app):
        job = await search.index_later("notes", DOCS)
        with pytest.raises(queue.JobFailed):
            await job.result(timeout=30)
        [dead] = await queue.dlq.list()
        assert dead["id"] == job.id and dead["attempts_made"] == 2
        assert [d["id"] for d in dead["payload"]["docs"]] == ["1", "2"]
