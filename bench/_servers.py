"""Server subprocesses for the benchmarks: free ports, CPU time from /proc, the `gingee` command, and a
process whose output goes to a temporary log shown when it fails.

Shared by bench/http_hello.py (and, through it, bench/metrics_cost.py and bench/asgi_hello.py),
bench/ws_broadcast.py and bench/start_time.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gingee_command() -> list[str]:
    """The `gingee` console script of this interpreter's environment (or the module, if it has none)."""
    script = Path(sys.executable).with_name("gingee")
    if script.is_file():
        return [str(script)]
    found = shutil.which("gingee")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from gingee_kernel.cli import main; sys.exit(main())"]


def asgi_command(project: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """`gingee serve PROJECT --server asgi`: Gingee's ASGI host under uvicorn (uvloop and httptools, the
    `gingee[fast]` extra), as users run it."""
    return [*gingee_command(), "serve", str(project), "--server", "asgi", "--host", host, "--port", str(port)]


class ServerProcess:
    """A server subprocess (run from the repository root) whose output goes to a temporary log file.

    `cpu` pins it to that CPU with `taskset` when taskset is installed. `stop()` ends it and removes the
    log; `output()` is the end of the log, for error messages.
    """

    def __init__(
        self, name: str, command: list[str], port: int, cpu: int | None = None, log_prefix: str = "bench"
    ) -> None:
        self.name = name
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix=f"{log_prefix}-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)

    def exited(self) -> bool:
        """True once the process has ended."""
        return self.process.poll() is not None

    def output(self, chars: int = 4000) -> str:
        """The last `chars` characters of the server's log."""
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit; remove the log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        os.unlink(self.log.name)
