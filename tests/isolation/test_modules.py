"""Modules whose state lives in the master (cache, queue) are called back to it, checked there."""

from __future__ import annotations

import json
import os

import httpx

from .conftest import app_files

GRANTS = {"permissions": {"mandatory": ["cache", "queue"]}}
CACHE = """
from gingee_kernel import cache

async def handle(g):
    await cache.set("greeting", {"hi": g.request.query.get("who", "ada")}, ttl=60)
    return {"value": await cache.get("greeting"), "n": await cache.incr("hits")}
"""
ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    job = await queue.add("double", {"x": int(g.request.query["x"])})
    return {"id": job.id, "value": await job.result(timeout=20), "status": (await job.status()).value}
"""
DOUBLE = """
import json
import os

def handle(g):
    return {"double": g.job.payload["x"] * 2, "pid": os.getpid()}
"""
#: A hostile script: finds the worker's channel to the master and asks for another app's state.
FORGE = """
import gc
from gingee_kernel.isolation.remote import MasterCalls

async def handle(g):
    calls = next(o for o in gc.get_objects() if isinstance(o, MasterCalls))
    answers = {}
    tries = {
        "other_app": ("victim", "cache", "get", {"key": "victim:secret"}),
        "other_namespace": ("forger", "cache", "get", {"key": "victim:secret"}),
        "not_granted": ("forger", "websockets", "connection_count", {}),
        "unknown_op": ("forger", "cache", "close", {}),
    }
    for name, (app, module, op, args) in tries.items():
        try:
            answers[name] = ["answered", await calls.call(app, module, op, **args)]
        except Exception as exc:
            answers[name] = [type(exc).__name__, str(exc)]
    return answers
"""
PLANT = """
from gingee_kernel import cache

async def handle(g):
    await cache.set("secret", "victim-value")
    return "planted"
"""


def test_cache_calls_go_to_the_masters_cache(isolated, client: httpx.Client) -> None:
    server = isolated({**app_files("iso", {"c.py": CACHE}), "web/iso/box/pmft.json": GRANTS}, dev=True)
    assert client.get(server.url("/iso/c?who=bo")).json() == {"value": {"hi": "bo"}, "n": 1}
    assert client.get(server.url("/iso/c")).json()["n"] == 2
    backend = server.project.shared["cache"]
    assert server.call(backend.get("iso:hits")) == "2"


def test_a_job_added_by_an_isolated_app_runs_in_its_worker(isolated, client: httpx.Client) -> None:
    server = isolated(
        {
            **app_files("iso", {"enqueue.py": ENQUEUE, "jobs/double.py": DOUBLE, "pid.py": PID}),
            "web/iso/box/pmft.json": GRANTS,
        },
        dev=True,
    )
    worker = client.get(server.url("/iso/pid")).json()["pid"]
    reply = client.get(server.url("/iso/enqueue?x=21"))
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["status"] == "done"
    assert data["value"] == {"double": 42, "pid": worker}
    assert worker != os.getpid()


def test_a_worker_cannot_reach_another_apps_state_through_the_channel(isolated, client: httpx.Client) -> None:
    server = isolated(
        {
            **app_files("forger", {"forge.py": FORGE}),
            "web/forger/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
            **app_files("victim", {"plant.py": PLANT}),
            "web/victim/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
        },
        isolation={"mode": "process", "apps": ["forger"]},
        dev=True,
    )
    assert client.get(server.url("/victim/plant")).text == "planted"
    answers = client.get(server.url("/forger/forge")).json()
    assert (
        answers["other_app"][0] == "GingeeError"
        and "does not run an app called 'victim'" in answers["other_app"][1]
    )
    assert "outside app 'forger's namespace" in answers["other_namespace"][1]
    assert answers["not_granted"][0] == "PermissionDenied"
    assert "no operation cache.close" in answers["unknown_op"][1]
    assert not any(a[0] == "answered" for a in answers.values())


PID = "import os\n\ndef handle(g):\n    return {'pid': os.getpid()}\n"
STATE = """
import json
import os

hits = []

def handle(g):
    hits.append(1)
    return {"pid": os.getpid(), "hits": len(hits)}
"""


def test_a_group_shares_one_worker_and_a_reload_starts_a_new_one(isolated, client: httpx.Client) -> None:
    server = isolated(
        {
            **app_files("a", {"pid.py": STATE}),
            **app_files("b", {"pid.py": STATE}),
            **app_files("c", {"pid.py": PID}),
        },
        isolation={"mode": "process", "groups": {"team": ["a", "b"]}, "apps": ["c"]},
    )
    a = client.get(server.url("/a/pid")).json()
    b = client.get(server.url("/b/pid")).json()
    c = client.get(server.url("/c/pid")).json()
    assert a["pid"] == b["pid"] != c["pid"]
    assert os.getpid() not in (a["pid"], c["pid"])
    assert client.get(server.url("/a/pid")).json() == {"pid": a["pid"], "hits": 2}
    server.call(server.project.reload("c"))
    assert client.get(server.url("/c/pid")).json()["pid"] != c["pid"]
    assert client.get(server.url("/a/pid")).json()["pid"] == a["pid"]


def test_an_app_json_may_ask_for_isolation_itself(make_project, serve, client: httpx.Client) -> None:
    project = make_project(
        {**app_files("own", {"pid.py": PID}, isolation="process"), **app_files("plain", {"pid.py": PID})}
    )
    server = serve(project, dev=False)
    assert client.get(server.url("/own/pid")).json()["pid"] != os.getpid()
    assert client.get(server.url("/plain/pid")).json()["pid"] == os.getpid()


def test_an_app_whose_startup_fails_in_its_worker_is_503_and_the_others_serve(
    isolated, client: httpx.Client
) -> None:
    server = isolated(
        {
            **app_files(
                "broken",
                {"start.py": "def handle(g):\n    raise RuntimeError('no db')\n", "pid.py": PID},
                startup_scripts=["start.py"],
            ),
            **app_files("fine", {"pid.py": PID}),
        }
    )
    reply = client.get(server.url("/broken/pid"))
    assert reply.status_code == 503 and reply.json()["error"] == "APP_UNAVAILABLE"
    assert "Traceback" not in reply.text
    assert client.get(server.url("/fine/pid")).status_code == 200


TICK = """
import json
import os
from gingee_kernel import cache

async def handle(g):
    await cache.set("tick", {"pid": os.getpid(), "payload": g.job.payload, "id": g.job.id}, ttl=0)
"""


def test_a_schedules_script_runs_in_the_worker(isolated, client: httpx.Client) -> None:
    from gingee_kernel.jobqueue.schedules import Scheduler
    from gingee_kernel.jobqueue.service import SHARED_KEY

    schedule = {"name": "hourly", "cron": "0 * * * *", "payload": {"n": 7}, "target": {"script": "tick.py"}}
    server = isolated(
        {
            **app_files("iso", {"tick.py": TICK, "pid.py": PID}, schedules=[schedule]),
            "web/iso/box/pmft.json": {"permissions": {"mandatory": ["cache", "scheduler"]}},
        },
        dev=True,
    )
    worker = client.get(server.url("/iso/pid")).json()["pid"]
    project = server.project
    server.call(Scheduler(project.shared[SHARED_KEY]).run_tick("iso", "hourly", 1_767_236_400_000))
    stored = server.call(project.shared["cache"].get("iso:tick"))
    assert stored is not None, "the schedule's script did not run"
    assert json.loads(stored) == {"pid": worker, "payload": {"n": 7}, "id": "schedule:hourly:1767236400000"}


PACK = """
import io
import os
import zipfile
from gingee_kernel import fs, image, zip

async def handle(g):
    picture = await image.load(g.request.raw_body).resize(width=30).format("png").to_bytes()
    fs.write_bytes(fs.BOX, "out/thumb.png", picture)
    archive = await zip.pack(fs.BOX, "out")
    return {"pid": os.getpid(), "entries": zipfile.ZipFile(io.BytesIO(archive)).namelist()}
"""


def test_the_content_modules_work_in_a_worker_with_their_grants_and_limits(
    isolated, client: httpx.Client
) -> None:
    import io

    from PIL import Image

    def jpeg(width: int, height: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (width, height), "blue").save(out, "JPEG")
        return out.getvalue()

    files = {
        **app_files("pics", {"pack.py": PACK}, image={"max_pixels": 100_000}),
        "web/pics/box/pmft.json": {"permissions": {"mandatory": ["image", "fs", "zip"]}},
    }
    server = isolated(files, dev=True)
    jpeg_type = {"Content-Type": "image/jpeg"}
    reply = client.post(server.url("/pics/pack"), content=jpeg(300, 150), headers=jpeg_type)
    assert reply.status_code == 200, reply.text
    assert reply.json()["pid"] != os.getpid()  # answered by the worker process
    assert reply.json()["entries"] == ["thumb.png"]
    with Image.open(server.project.apps["pics"].box / "out" / "thumb.png") as thumb:
        assert thumb.size == (30, 15)
    refused = client.post(server.url("/pics/pack"), content=jpeg(1000, 500), headers=jpeg_type)
    assert refused.status_code == 413 and refused.json()["error"] == "IMAGE_TOO_LARGE"
