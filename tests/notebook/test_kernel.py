"""The Gingee kernelspec and the %gingee magic in a real kernel, export from the kernel's history, a served
app answering while another cell runs, and config errors shown in the cell."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from PIL import Image

from gingee_kernel import __main__ as entry
from gingee_kernel import live
from gingee_kernel.notebook.magics import MagicUsageError, parse

CELLS = [
    "import gingee_kernel as gk\napp = gk.App('hi')",
    "GREETING = 'hello'\n\n@app.route('/hi/:name')\n"
    "def hi(g):\n    return {GREETING: g.request.params['name']}",
]


class Kernel:
    """A started kernel and its client; `run(code)` returns the IOPub outputs of one cell. The kernel's
    Jupyter runtime dir (where `app.serve()` registers its port and secret) is `runtime`."""

    def __init__(self, manager: KernelManager, runtime: Path) -> None:
        self.manager = manager
        self.runtime = runtime
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []

        def keep(message: dict[str, Any]) -> None:
            if message["msg_type"] in ("stream", "execute_result", "display_data", "error"):
                outputs.append(message["content"])

        self.client.execute_interactive(code, timeout=60, output_hook=keep)
        return outputs

    def state_of(self, msg_id: str) -> str:
        """Read IOPub up to the next status message of the cell `msg_id`: "busy" or "idle"."""
        while True:
            message = self.client.get_iopub_msg(timeout=10)
            if message["msg_type"] == "status" and message["parent_header"].get("msg_id") == msg_id:
                return str(message["content"]["execution_state"])

    def printed(self, msg_id: str) -> str:
        """What the cell `msg_id` prints, read from IOPub until the kernel is idle after it."""
        text = []
        while True:
            message = self.client.get_iopub_msg(timeout=30)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                text.append(message["content"]["text"])
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return "".join(text)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, Path]]:
    """The Gingee kernel, installed into a temp prefix and started in a temp folder."""
    prefix = tmp_path_factory.mktemp("prefix")
    cwd = tmp_path_factory.mktemp("kernel-cwd")
    runtime = tmp_path_factory.mktemp("kernel-runtime")
    assert entry.main(["install", "--prefix", str(prefix)]) == 0
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    manager = KernelManager(kernel_name="gingee", kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(cwd), env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)})
    started = Kernel(manager, runtime)
    try:
        yield started, cwd
    finally:
        started.client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_install_writes_a_kernelspec_that_loads_the_extension(tmp_path: Path) -> None:
    assert entry.main(["install", "--prefix", str(tmp_path), "--name", "gingee-test"]) == 0
    folder = tmp_path / "share" / "jupyter" / "kernels" / "gingee-test"
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["display_name"] == "Gingee (Python 3)" and spec["language"] == "python"
    assert spec["argv"] == [
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        "--ext=gingee_kernel",
    ]
    assert (folder / "logo-64x64.png").is_file()


def test_the_magic_calls_the_latest_app_in_a_real_kernel(kernel: tuple[Kernel, Path]) -> None:
    client, _ = kernel
    for cell in CELLS:
        assert not [o for o in client.run(cell) if "ename" in o]
    (result,) = client.run("%gingee GET /hi/kernel")
    assert result["data"]["text/plain"].startswith("HTTP 200\nContent-Type: application/json")
    assert '"hello": "kernel"' in result["data"]["text/plain"]
    assert "<strong style='color:#1a7f37'>HTTP 200</strong>" in result["data"]["text/html"]
    (posted,) = client.run('%gingee hi POST /hi/x {"a": 1}')
    assert posted["data"]["text/plain"].startswith("HTTP 405")
    (error,) = client.run("%gingee FETCH /hi")
    assert error["traceback"] == [
        "%gingee: usage: %gingee [APP] METHOD PATH [JSON body]   e.g. " + '%gingee POST /todos {"title": "x"}'
    ]


def test_export_from_the_kernel_reads_its_history(kernel: tuple[Kernel, Path]) -> None:
    client, cwd = kernel
    for cell in CELLS:
        client.run(cell)
    (printed,) = client.run("print(app.export('web'))")
    assert printed["text"].strip() == "web/hi"
    script = (cwd / "web" / "hi" / "box" / "routes" / "hi.py").read_text()
    assert "\nGREETING = 'hello'\n\n\ndef hi(g):\n    return {GREETING: g.request.params['name']}\n" in script
    assert "@app.route" not in script and "gingee_kernel" not in script and "(In [" in script
    client.run("rows = list(range(3))\n@app.route('/rows')\ndef all_rows(g):\n    return rows")
    (error,) = client.run("app.export('web')")
    assert error["ename"] == "ExportError"
    assert error["traceback"][0].startswith("ExportError: `rows`, used by `all_rows` (In [")
    assert "is computed at runtime in In [" in error["traceback"][0]


def test_a_served_app_answers_while_another_cell_runs(kernel: tuple[Kernel, Path]) -> None:
    """The engine runs in a thread of its own: the blocked cell waits for the very request it answers."""
    client, _ = kernel
    defined = client.run(
        "import threading\nimport gingee_kernel as gk\nbg = gk.App('bg')\nreleased = threading.Event()\n"
        "@bg.route('/release')\ndef release(g):\n    released.set()\n    return {'released': True}\n"
        "bg.serve()"
    )
    assert not [o for o in defined if "ename" in o]
    registration = live.read_all(client.runtime)["bg"]  # the port and secret Jupyter would proxy with

    blocked = client.client.execute("print('released' if released.wait(30) else 'timed out')")
    assert client.state_of(blocked) == "busy"  # the cell is running, and only the request can end it
    assert not client.client.shell_channel.msg_ready()  # no execute_reply: it has not finished
    answer = httpx.get(
        f"http://127.0.0.1:{registration.port}/bg/release",
        headers={live.SECRET_HEADER: registration.secret},
        timeout=10,
    )
    assert (answer.status_code, answer.json()) == (200, {"released": True})
    assert client.printed(blocked) == "released\n"
    reply = client.client.get_shell_msg(timeout=10)
    assert (reply["parent_header"]["msg_id"], reply["content"]["status"]) == (blocked, "ok")
    client.run("bg.stop()")
    assert "bg" not in live.read_all(client.runtime)


def test_a_bad_app_use_is_shown_in_the_cell_without_a_traceback(kernel: tuple[Kernel, Path]) -> None:
    client, _ = kernel
    (error,) = client.run("import gingee_kernel as gk\ngk.App('badcfg').use('db', type='mongo')")
    assert error["ename"] == "AppConfigError"
    assert error["traceback"] == [
        "AppConfigError: app.use('db'): at /db/0/type: "
        'expected one of "sqlite", "postgres", "mysql", got "mongo"'
    ]


def test_a_chart_or_a_qr_code_awaited_in_a_cell_shows_inline(kernel: tuple[Kernel, Path]) -> None:
    client, _ = kernel
    config = {"type": "bar", "data": {"labels": ["a", "b"], "datasets": [{"label": "n", "data": [3, 1]}]}}
    (shown,) = client.run(
        f"from gingee_kernel import chart\nawait chart.render({config!r}, width=320, height=200)"
    )
    png = Image.open(io.BytesIO(base64.b64decode(shown["data"]["image/png"])))
    assert png.size == (320, 200)
    (svg,) = client.run("from gingee_kernel import qrcode\nawait qrcode.qrcode('hi', format='svg')")
    assert svg["data"]["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("GET /a", (None, "GET", "/a", None)),
        ('todo post /a?x=1 {"t": [1, 2]}', ("todo", "POST", "/a?x=1", {"t": [1, 2]})),
        ("  delete   /a/b  ", (None, "DELETE", "/a/b", None)),
    ],
)
def test_parse(line: str, parsed: tuple[Any, ...]) -> None:
    assert parse(line) == parsed


@pytest.mark.parametrize(
    ("line", "message"),
    [("", "usage"), ("todo", "usage"), ("GET", "usage"), ("GET /a {nope", "not valid JSON")],
)
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(MagicUsageError, match=message):
        parse(line)
