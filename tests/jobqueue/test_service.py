"""Starting the queue: fail closed on unreachable Redis, the --dev fallback, errors at add, the DLQ cap."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel import queue
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ManifestError, ServiceUnavailable
from gingee_kernel.jobqueue.service import close_service
from gingee_kernel.jobqueue.settings import QueueSettings
from gingee_kernel.standalone import Server
from tests.fixtures.apps import MakeApp
from tests.fixtures.servers import write_files
from tests.jobqueue.conftest import StartProject


def dead_redis_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def project(root: Path, fail_closed: bool) -> Path:
    return write_files(root, {
        "gingee.json": {
            "queue": {"driver": "arq", "fail_closed": fail_closed, "redis": {"url": dead_redis_url()}}
        },
        "settings/permissions.json": {"shop": {"granted": ["queue"]}},
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/jobs/echo.py": "async def handle(g):\n    return g.job.payload\n",
    })  # fmt: skip


@pytest.mark.parametrize(("dev", "fail_closed"), [(False, True), (True, True), (False, False)])
async def test_serve_fails_closed_without_redis(tmp_path: Path, dev: bool, fail_closed: bool) -> None:
    server = Server(project(tmp_path, fail_closed), dev=dev, host="127.0.0.1", port=0)
    with pytest.raises(ServiceUnavailable, match=r"cannot be reached.*fail closed"):
        await server.start()
    assert server.project.apps == {}


async def test_dev_falls_back_to_memory_when_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(project(tmp_path, fail_closed=False), dev=True, host="127.0.0.1", port=0)
    with caplog.at_level(logging.WARNING, "gingee.queue"):
        await server.start()
    try:
        assert server.project.shared["queue"].driver.name == "memory"
        assert "using the memory driver instead" in caplog.text
        with app_context(server.project.apps["shop"]):
            assert await (await queue.add("echo", "hi")).result(timeout=10) == "hi"
    finally:
        await server.stop()


async def test_add_fails_closed_when_redis_is_down(make_app: MakeApp) -> None:
    shared: dict[str, Any] = {}
    app = make_app("shop", server={"queue": {"driver": "arq", "redis": {"url": dead_redis_url()}}},
                   grants={"queue"}, shared=shared)  # fmt: skip
    (app.box / "jobs").mkdir()
    (app.box / "jobs" / "echo.py").write_text("async def handle(g):\n    return 1\n")
    try:
        with app_context(app), pytest.raises(ServiceUnavailable, match="nothing was done"):
            await queue.add("echo", {})
    finally:
        await close_service(shared)


def test_settings_are_checked() -> None:
    with pytest.raises(ManifestError, match="/queue/driver"):
        QueueSettings.from_config({"queue": {"driver": "rabbit"}})
    with pytest.raises(ManifestError, match="/queue/concurrency"):
        QueueSettings.from_config({"queue": {"concurrency": 0}})
    settings = QueueSettings.from_config({"queue": {"job_timeout_ms": 2000, "lease_grace_ms": 500}})
    assert (settings.job_timeout, settings.lease) == (2.0, 2.5)


async def test_dlq_keeps_the_newest_entries(start_project: StartProject) -> None:
    files = {
        "settings/permissions.json": {"shop": {"granted": ["queue"]}},
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/jobs/boom.py": "async def handle(g):\n    raise RuntimeError(g.job.id)\n",
    }
    started = await start_project(files, server={"queue": {"dlq_max": 2}})
    with app_context(started.apps["shop"]):
        for n in range(3):
            with pytest.raises(queue.JobFailed):
                await (await queue.add("boom", attempts=1, job_id=f"d{n}")).result(timeout=10)
        assert [d["id"] for d in await queue.dlq.list()] == ["d2", "d1"]
        assert [d["id"] for d in await queue.dlq.list(limit=1)] == ["d2"]
        with pytest.raises(ValueError, match="limit"):
            await queue.dlq.list(limit=0)
