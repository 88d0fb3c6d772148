"""One JSON route three ways, loaded by wrk in one run:

1. live: defined in a kernel with `gk.App`, `app.serve()`, requested through the Jupyter server's proxy;
2. exported: the same app after `app.export("web")`, served by the Gingee extension inside Jupyter;
3. Kernel Gateway in notebook-http mode serving the same JSON from a cell (`# GET /hello`), the peer.

Prints requests/second and p50/p99 of each and the ratios against Kernel Gateway (goal: live >= 10x).

Usage: python bench/live_route.py [--duration 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from http_hello import LoadResult, free_port, parse_wrk
from jupyter_client.manager import KernelManager

HERE = Path(__file__).resolve().parent
#: Jupyter refuses to run as root without it (containers, CI).
ALLOW_ROOT = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
BODY = {"message": "Hello, world!"}
KERNEL_CODE = """
import gingee_kernel as gk
app = gk.App("bench")

@app.route("/hello")
async def hello(g):
    g.response.send({"message": "Hello, world!"})

app.serve()
"""


def wait_for(url: str, headers: dict[str, str], timeout: float = 60) -> None:
    """Poll `url` until it answers the expected JSON."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as reply:
                if json.loads(reply.read()) == BODY:
                    return
                last = "unexpected body"
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered {BODY} ({last})")


def load(name: str, url: str, headers: dict[str, str], duration: float, connections: int) -> LoadResult:
    """Warm up, then one `wrk --latency` run with the given headers."""
    flags = [arg for key, value in headers.items() for arg in ("-H", f"{key}: {value}")]
    base = ["wrk", "-t1", f"-c{connections}", "--latency", *flags]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)
    done = subprocess.run(
        [*base, f"-d{max(1, round(duration))}s", url], capture_output=True, text=True, check=True
    )
    return parse_wrk(name, done.stdout)


def start_jupyter(root: Path, runtime: Path, token: str) -> tuple[subprocess.Popen[bytes], int]:
    """A Jupyter server with the Gingee extension on a free port; waits for its runtime file."""
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        *ALLOW_ROOT,
    ]
    with (root.parent / "jupyter.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (runtime / f"jpserver-{proc.pid}.json").is_file():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("jupyter server did not start")
        time.sleep(0.1)
    return proc, port


def start_gateway(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Kernel Gateway in notebook-http mode with one cell: `# GET /hello` printing the JSON."""
    import nbformat

    notebook = folder / "kg.ipynb"
    cell = '# GET /hello\nimport json\nprint(json.dumps({"message": "Hello, world!"}))'
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(cell)], metadata={"kernelspec": kernelspec}
    )
    nbformat.write(nb, notebook)
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kernel_gateway",
        "--KernelGatewayApp.api=kernel_gateway.notebook_http",
        f"--KernelGatewayApp.seed_uri={notebook}",
        f"--KernelGatewayApp.port={port}",
        "--KernelGatewayApp.ip=127.0.0.1",
    ]
    with (folder / "gateway.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    return proc, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    root, runtime = work / "project", work / "runtime"
    root.mkdir()
    runtime.mkdir()
    token = "bench-token"
    auth = {"Authorization": f"token {token}"}
    jupyter, port = start_jupyter(root, runtime, token)
    kernel = KernelManager(kernel_name="python3")
    gateway = None
    results: list[LoadResult] = []
    try:
        env = {**os.environ, "JPY_PARENT_PID": str(jupyter.pid), "JUPYTER_RUNTIME_DIR": str(runtime)}
        kernel.start_kernel(env=env, cwd=str(root))
        client = kernel.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        client.execute_interactive(KERNEL_CODE, timeout=60)
        url = f"http://127.0.0.1:{port}/gingee/bench/hello"
        wait_for(url, auth)
        results.append(load("live (kernel, proxied)", url, auth, args.duration, args.connections))

        client.execute_interactive("app.export('web'); app.stop()", timeout=60)
        reload = urllib.request.Request(
            f"http://127.0.0.1:{port}/gingee/api/apps/bench/reload", method="POST", headers=auth, data=b""
        )
        urllib.request.urlopen(reload, timeout=30).read()
        wait_for(url, auth)
        results.append(load("exported (extension)", url, auth, args.duration, args.connections))
        client.stop_channels()
        kernel.shutdown_kernel(now=True)

        gateway, gateway_port = start_gateway(work)
        gateway_url = f"http://127.0.0.1:{gateway_port}/hello"
        wait_for(gateway_url, {})
        results.append(load("Kernel Gateway notebook-http", gateway_url, {}, args.duration, args.connections))
    finally:
        for proc in (gateway, jupyter):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    peer = results[-1]
    print(f"{'server':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x KG':>6}")
    for result in results:
        ratio = result.requests_per_second / peer.requests_per_second
        print(
            f"{result.server:32} {result.requests_per_second:9.1f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{ratio:6.1f}"
        )
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s, one run each; goal: live >= 10x Kernel Gateway"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
