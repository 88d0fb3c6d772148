"""Shared fixtures (apps, Redis, servers) and the CI rule that service tests may never be skipped."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.apps",
    "tests.fixtures.asgi",
    "tests.fixtures.haproxy",
    "tests.fixtures.jupyter",
    "tests.fixtures.moto",
    "tests.fixtures.redis",
    "tests.fixtures.sentinel",
    "tests.fixtures.servers",
    "tests.fixtures.smtp",
    "tests.fixtures.tcp_proxy",
]

SERVICE_MARKERS = ("postgres", "mysql", "redis", "prometheus", "browser")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With GINGEE_TEST_REQUIRE_SERVICES=1 (set by .ci/run), a skipped service test is a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("GINGEE_TEST_REQUIRE_SERVICES") == "1":
        needed = [m for m in SERVICE_MARKERS if item.get_closest_marker(m)]
        if needed:
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} needs {', '.join(needed)}, which CI requires, but it was skipped: "
                f"{report.longrepr}"
            )
