"""The `gingee` command: new, check, and serve as a real subprocess (the quick start's path)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gingee_kernel.cli import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gingee serve exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_new_creates_a_project_that_checks_clean(tmp_path: Path, capsys) -> None:
    target = tmp_path / "site"
    assert main(["new", str(target)]) == 0
    assert (target / "web/hello/box/greet.py").is_file()
    assert main(["check", str(target)]) == 0
    assert "ok     hello" in capsys.readouterr().out
    assert main(["new", str(target)]) == 2  # never overwrites


def test_check_reports_broken_apps_and_exits_nonzero(tmp_path: Path, capsys) -> None:
    main(["new", str(tmp_path / "p")])
    bad = tmp_path / "p/web/bad/box"
    bad.mkdir(parents=True)
    (bad / "app.json").write_text(json.dumps({"name": "bad", "limits": {"max_body_size": "lots"}}))
    assert main(["check", str(tmp_path / "p")]) == 1
    out = capsys.readouterr().out
    assert "error  bad: web/bad/box/app.json: at /limits/max_body_size: expected a string matching" in out


@pytest.mark.parametrize("server", ["tornado", "asgi"])
def test_serve_subprocess_answers_and_stops_on_sigterm(tmp_path: Path, server: str) -> None:
    main(["new", str(tmp_path / "p")])
    port = free_port()
    command = ["serve", str(tmp_path / "p"), "--port", str(port), "--server", server]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gingee_kernel.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        reply = wait_for(f"http://127.0.0.1:{port}/hello/greet?name=Ada", proc)
        assert reply.json() == {"message": "Hello, Ada!", "app": "hello"}
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).headers["location"] == "hello/"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"on http://127.0.0.1:{port}/ (apps: hello)" in out
    assert ("under uvicorn" in out) == (server == "asgi")


def test_serve_asgi_without_uvicorn_says_what_to_install(tmp_path: Path) -> None:
    main(["new", str(tmp_path / "p")])
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"  # as if uvicorn were not installed
        "from gingee_kernel.cli import main\n"
        f"sys.exit(main(['serve', {str(tmp_path / 'p')!r}, '--port', '0', '--server', 'asgi']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "pip install 'gingee[fast]'" in done.stderr and "Traceback" not in done.stderr


def test_serve_refuses_an_unknown_server(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", ".", "--server", "gunicorn"])
    assert "invalid choice: 'gunicorn' (choose from 'tornado', 'asgi')" in capsys.readouterr().err


def test_serving_apps_without_logins_or_a_fleet_imports_neither() -> None:
    """What `gingee serve examples` loads at start: no app there logs users in and no fleet is configured,
    so joserfc, the login sealer and redis stay unimported (each costs start time: bench/start_time.py)."""
    code = (
        "import asyncio, sys\n"
        "from gingee_kernel.standalone import Server\n"
        "async def main():\n"
        "    server = Server(sys.argv[1], dev=False, host='127.0.0.1', port=0)\n"
        "    await server.start()\n"
        "    await server.stop()\n"
        "asyncio.run(main())\n"
        "lazy = ('joserfc', 'gingee_kernel.modules.login.sealing', 'redis')\n"
        "print(sorted(m for m in lazy if m in sys.modules))"
    )
    examples = Path(__file__).resolve().parents[1] / "examples"
    done = subprocess.run(
        [sys.executable, "-c", code, str(examples)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
