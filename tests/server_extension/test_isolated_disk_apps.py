"""gingee.json `isolation` under Jupyter: a disk app's scripts run in a worker process, behind Jupyter's
auth, while the other apps stay in the Jupyter server's process (docs/security.md)."""

from __future__ import annotations

import os

PID = "import os\n\nasync def handle(g):\n    return {'pid': os.getpid(), 'ppid': os.getppid()}\n"

FILES = {
    "gingee.json": {"isolation": {"mode": "process", "apps": ["iso"]}},
    "web/iso/box/app.json": {"name": "iso"},
    "web/iso/box/pid.py": PID,
    "web/plain/box/app.json": {"name": "plain"},
    "web/plain/box/pid.py": PID,
}


def test_an_isolated_disk_app_answers_from_its_worker_behind_jupyters_auth(server, http) -> None:
    assert http.get(server.url("gingee/iso/pid")).status_code in (302, 403)  # no token: Jupyter's auth
    plain = http.get(server.url("gingee/plain/pid"), headers=server.auth).json()
    iso = http.get(server.url("gingee/iso/pid"), headers=server.auth)
    assert iso.status_code == 200, iso.text
    worker = iso.json()
    jupyter_pid = plain["pid"]
    assert jupyter_pid != os.getpid()  # the Jupyter server is a process of its own
    assert worker["pid"] != jupyter_pid and worker["ppid"] == jupyter_pid
