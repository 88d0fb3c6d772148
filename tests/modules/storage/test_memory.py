"""Memory bound of streamed storage: a 200 MB upload through a `"body": "stream"` route and its download by
`send_object` leave the peak RSS of a separate `gingee serve` process less than 50 MB above its baseline."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gingee_kernel.engine.permissions import grant
from gingee_kernel.engine.project import load_server_config
from tests.fixtures.servers import write_files
from tests.modules.storage.test_routes import project
from tests.test_cli import free_port

MB = 1024 * 1024
SIZE = 200 * MB
CHUNK = 512 * 1024
LIMIT = 50 * MB


@dataclass
class Served:
    """A `gingee serve` subprocess on 127.0.0.1 and its log file."""

    proc: subprocess.Popen[str]
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, field: str) -> int:
        """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def wait_ready(self, client: httpx.Client) -> None:
        """Poll until the server answers (any status); fail with its log if it exits or never answers."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gingee serve exited early:\n{self.log.read_text()}")
            try:
                client.get(self.url("/files/down/none.bin"), timeout=5)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"gingee serve never answered on port {self.port}:\n{self.log.read_text()}")

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux >= 4.0, `echo 5 > clear_refs`); False where refused."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """Production `gingee serve` (no --dev, so the app is granted storage as an operator would)."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("reads RSS from /proc/<pid>/status (Linux only)")
    root = write_files(tmp_path / "project", project())
    grant(root / load_server_config(root)["permissions_file"], "files", ["storage"])
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "gingee_kernel.cli", "serve", str(root), "--host", "127.0.0.1"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    running = Served(proc, port, log)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def generated(size: int, digests: list[hashlib._Hash]) -> Iterator[bytes]:
    """`size` bytes in CHUNK pieces, each distinct (its index up front), fed to `digests` as they go."""
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    index = 0
    while sent < size:
        part = (index.to_bytes(8, "big") + block[8:])[: min(CHUNK, size - sent)]
        for digest in digests:
            digest.update(part)
        sent += len(part)
        index += 1
        yield part


def test_200mb_streamed_upload_and_download_grow_rss_less_than_50mb(served: Served) -> None:
    with httpx.Client(timeout=60) as client:
        served.wait_ready(client)
        # Warm-up: load the app, the storage module and its driver, and run both code paths once.
        small = client.put(served.url("/files/up/warm.bin"), content=generated(2 * MB, []))
        assert small.status_code == 200, f"{small.text}\n{served.log.read_text()}"
        assert len(client.get(served.url("/files/down/warm.bin")).content) == 2 * MB
        baseline = served.status("VmRSS")
        reset = served.reset_peak()
        before = served.status("VmHWM")

        sent_sha, sent_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        put = client.put(
            served.url("/files/up/big.bin"),
            content=generated(SIZE, [sent_sha, sent_md5]),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["size"] == SIZE
        assert put.json()["etag"] == sent_md5.hexdigest()  # the driver's MD5, computed as it wrote
        after_upload = served.status("VmHWM")

        got_sha = hashlib.sha256()
        received = 0
        with client.stream("GET", served.url("/files/down/big.bin")) as down:
            assert down.status_code == 200
            assert down.headers["Content-Length"] == str(SIZE)
            for part in down.iter_bytes(CHUNK):
                got_sha.update(part)
                received += len(part)
        assert received == SIZE
        assert got_sha.hexdigest() == sent_sha.hexdigest()

    peak = served.status("VmHWM")
    growth = peak - baseline
    figures = (
        f"baseline VmRSS {baseline / MB:.1f} MB, VmHWM {before / MB:.1f} MB at start"
        f" ({'reset' if reset else 'not reset: since process start'}), {after_upload / MB:.1f} MB after"
        f" the upload, {peak / MB:.1f} MB after the download: growth {growth / MB:.1f} MB"
        f" for {SIZE // MB} MB each way (limit {LIMIT // MB} MB)"
    )
    print(figures)
    assert growth < LIMIT, figures
