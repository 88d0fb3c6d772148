"""The Gingee kernelspec and the %gingee magic in a real kernel, plus export from the kernel's history."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from gingee_kernel import __main__ as entry
from gingee_kernel.notebook.magics import MagicUsageError, parse

CELLS = [
    "import gingee_kernel as gk\napp = gk.App('hi')",
    "GREETING = 'hello'\n\n@app.route('/hi/:name')\n"
    "def hi(g):\n    return {GREETING: g.request.params['name']}",
]


class Kernel:
    """A started kernel and its client; `run(code)` returns the IOPub outputs of one cell."""

    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
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


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, Path]]:
    """The Gingee kernel, installed into a temp prefix and started in a temp folder."""
    prefix = tmp_path_factory.mktemp("prefix")
    cwd = tmp_path_factory.mktemp("kernel-cwd")
    assert entry.main(["install", "--prefix", str(prefix)]) == 0
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    manager = KernelManager(kernel_name="gingee", kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(cwd))
    started = Kernel(manager)
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
