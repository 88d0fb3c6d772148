"""Three `gingee serve` nodes behind a real HAProxy (Debian's), health-checked on
/_gingee/health/ready: an upgrade sent through the balancer reaches every node; a node that starts later
with an old version takes traffic only once it serves the fleet's; a SIGTERM'd node drains with no client
failure; a kill -9'd node costs clients nothing when the balancer may retry a GET elsewhere."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from gingee_kernel.lifecycle.client import deploy

from .fleet import TOKEN, Fleet

CLIENTS = 4  # concurrent clients in the load below


class Load:
    """CLIENTS threads asking the balancer for /shop/version on keep-alive connections until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self.since: dict[str, float] = {}  # version -> when it was first answered
        self.last: dict[str, float] = {}  # version -> when it was last answered
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(self.url)
                    ok = answer.status_code == 200
                    outcome = answer.json()["version"] if ok else f"HTTP {answer.status_code}"
                except (httpx.HTTPError, ValueError) as exc:
                    ok, outcome = False, type(exc).__name__
                now = time.monotonic()
                with self._lock:
                    if not ok:
                        self.failures.append(outcome)
                        continue
                    self.answers[outcome] += 1
                    self.since.setdefault(outcome, now)
                    self.last[outcome] = now

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(15)

    def total(self) -> int:
        with self._lock:
            return sum(self.answers.values()) + len(self.failures)


def balanced(fleet_factory, haproxy, count: int = 3, **options) -> tuple[Fleet, object]:
    running = fleet_factory(count, extra={"server": {"drain_ms": 2000}})
    proxy = haproxy(
        [(node.name, "127.0.0.1", node.port) for node in running.nodes], inter_ms=100, fall=2, **options
    )
    return running, proxy


def test_upgrade_through_the_balancer_and_a_late_node_takes_traffic_only_once_caught_up(fleet, haproxy):
    running, proxy = balanced(fleet, haproxy)
    first, second, late = running.nodes
    for node in (first, second):
        node.start(wait=False)
    for node in (first, second):
        node.wait_until(lambda n=node: n.get("/_gingee/health/ready").status_code == 200, "become ready")
    proxy.wait_until({"n1", "n2"})

    started = time.monotonic()
    answer = deploy(running.app_folder("2.0.0"), proxy.url(), token=TOKEN)  # any node takes it
    assert answer["fleet"]["node"] in ("n1", "n2")
    for node in (first, second):
        node.wait_until(lambda n=node: n.get("/shop/version").json()["version"] == "2.0.0", "serve 2.0.0")
    print(f"\nevery running node served 2.0.0 {time.monotonic() - started:.2f} s after the deploy began")

    # n3's folder still holds 1.0.0. While clients hammer the balancer, it starts, catches up, and only
    # then passes its readiness check: no client ever sees 1.0.0 again.
    load = Load(proxy.url("/shop/version"))
    with load.running():
        late.start(wait=False)
        proxy.wait_until({"n1", "n2", "n3"}, timeout=60)
        seen = load.total()
        while load.total() < seen + 50:
            time.sleep(0.02)
    assert load.answers["1.0.0"] == 0, load.answers
    assert load.failures == []
    assert late.get("/shop/version").json() == {"version": "2.0.0"}


def test_sigterm_drains_a_node_out_of_the_balancer_without_client_failures(fleet, haproxy):
    running, proxy = balanced(fleet, haproxy)
    running.start()
    proxy.wait_until({"n1", "n2", "n3"})
    leaving = running.nodes[1]
    load = Load(proxy.url("/shop/version"))
    with load.running():
        time.sleep(0.3)
        leaving.signal(signal.SIGTERM)
        proxy.wait_until({"n1", "n3"}, timeout=20, checked=False)  # readiness fails: taken out
        assert leaving.proc is not None and leaving.proc.wait(30) == 0  # then it stopped by itself
        seen = load.total()
        while load.total() < seen + 50:
            time.sleep(0.02)
    assert load.failures == [], load.failures
    assert load.answers["1.0.0"] > 0


def test_kill_9_costs_clients_nothing_when_the_balancer_may_retry(fleet, haproxy):
    """A GET whose node died before answering is retried on another node (`retry-on conn-failure
    empty-response`, `option redispatch`), so clients see no failure. Without `empty-response`, a request
    sent on a pooled connection to the dead node fails (a few per kill here: bench/fleet_lb.py counts
    them)."""
    retry_on = "conn-failure empty-response response-timeout"
    running, proxy = balanced(fleet, haproxy, retries=2, redispatch=True, retry_on=retry_on)
    running.start()
    proxy.wait_until({"n1", "n2", "n3"})
    load = Load(proxy.url("/shop/version"))
    with load.running():
        time.sleep(0.3)
        killed = time.monotonic()
        running.nodes[0].kill()
        proxy.wait_until({"n2", "n3"}, timeout=20, checked=False)
        print(f"\nHAProxy took n1 out {time.monotonic() - killed:.2f} s after kill -9")
        seen = load.total()
        while load.total() < seen + 50:
            time.sleep(0.02)
    print(f"client failures: {len(load.failures)} of {load.total()} requests ({Counter(load.failures)})")
    assert load.failures == []
    assert load.answers["1.0.0"] > 100
