"""schemathesis fuzzes every route of the example project's apps (and a route with a body schema) from
their OpenAPI documents: no 5xx, no reply outside its declared schema, no traceback or path in a body."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.fixtures.servers import RunningServer, write_files

from .test_openapi import _files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPS = ("hello", "todo", "chat", "shop")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz") / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("plugins"))
    write_files(root, _files())
    server = RunningServer(root, dev=False).start()
    yield server
    server.stop()


def _leaks(text: str, root: str) -> list[str]:
    return [marker for marker in ("Traceback (most recent call last)", root, 'File "/') if marker in text]


@pytest.mark.parametrize("app", APPS)
def test_no_route_answers_5xx_or_leaks_for_generated_requests(fuzzed: RunningServer, app: str) -> None:
    schema = schemathesis.openapi.from_url(fuzzed.url(f"/{app}/_gingee/openapi.json"))
    root = str(fuzzed.project.dir)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"app {app} documents no route"
    failures: list[str] = []
    for operation in operations:

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call()
            if response.status_code >= 500:
                where = f"{case.method} {case.formatted_path}"
                failures.append(f"{where}: {response.status_code} {response.text[:200]}")
            leaked = _leaks(response.text, root)
            if leaked:
                failures.append(f"{case.method} {case.formatted_path}: body shows {leaked}")
            case.validate_response(response, checks=[schemathesis.checks.response_schema_conformance])

        check()
    assert failures == []
