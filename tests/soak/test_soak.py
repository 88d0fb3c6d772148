"""bench/soak.py: its failure rules on sample figures, and a one-minute soak of `gingee serve --workers 2`
on Redis (HTTP, websockets and jobs) that must end with no error, no lost job and no growth."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SOAK = REPO / "bench" / "soak.py"
ROW = re.compile(r"^\s*\d+ s\s+[\d./]+\s+[\d/]+\s+\d+", re.MULTILINE)


def load_soak() -> ModuleType:
    """bench/soak.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_soak", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


soak = load_soak()


def usage(rss_mib: dict[str, float], fds: dict[str, int], redis: int):  # type: ignore[no-untyped-def]
    return soak.Usage(
        rss_kib={k: int(v * 1024) for k, v in rss_mib.items()}, fds=fds, redis_connections=redis
    )


def test_rss_growth_past_ten_percent_fails() -> None:
    base = usage({"master": 60, "w1": 100, "w2": 100}, {"master": 4, "w1": 30, "w2": 30}, 17)
    end = usage({"master": 61, "w1": 115, "w2": 104}, {"master": 4, "w1": 31, "w2": 29}, 18)
    problems = soak.growth_problems(base, end)
    assert len(problems) == 1, problems
    assert problems[0].startswith("w1: RSS grew 15.0%"), problems


def test_small_growth_passes_and_counts_that_keep_growing_fail() -> None:
    base = usage({"w1": 100}, {"w1": 30}, 17)
    assert soak.growth_problems(base, usage({"w1": 109}, {"w1": 50}, 37)) == []
    problems = soak.growth_problems(base, usage({"w1": 100}, {"w1": 51}, 38))
    assert [p.split(" (")[0] for p in problems] == [
        "w1: open fds kept growing after warm-up",
        "Redis connections kept growing after warm-up",
    ], problems


def test_a_replaced_worker_fails() -> None:
    base = usage({"w1": 100, "w2": 100}, {"w1": 30, "w2": 30}, 17)
    end = usage({"w1": 100, "w3": 60}, {"w1": 30, "w3": 30}, 17)
    problems = soak.growth_problems(base, end)
    assert any(p.startswith("w2: exited") for p in problems), problems
    assert any(p.startswith("w3: a new process") for p in problems), problems


def test_errors_and_lost_jobs_fail_the_summary() -> None:
    stats = soak.Stats()
    stats.error("http 503", "GET /soak/hit: busy")
    stats.enqueued.update({1, 2, 3})
    row = soak.Row(60, usage({"w1": 100}, {"w1": 30}, 17), 1, 1, 3, 1, 1.0, 1.0)
    outcome = soak.Outcome(missing=[3], duplicates=0, dead=0, fanout=None, exit=0, worker_exit=0)
    problems = soak.all_problems(stats, row, row, outcome)
    assert problems == ["1 errors (http 503)", "1 jobs never ran (the first: [3])"], problems
    lines = "\n".join(soak.summary_lines(stats, [row], row, outcome, problems))
    assert "3 enqueued, 2 ran, 1 lost" in lines and "FAIL:" in lines, lines


def test_rows_come_every_interval_at_the_end_of_warm_up_and_at_the_end() -> None:
    assert soak.sample_times(60, 10, 20) == [10, 20, 30, 40, 50, 60]
    assert soak.sample_times(120, 30, 45) == [30, 45, 60, 90, 120]
    assert soak.sample_times(40.2, 10, 10) == [10, 20, 30, 40.2]  # no second row 0.2 s after the last


@pytest.mark.redis
def test_one_minute_soak(redis_url: str) -> None:
    command = [sys.executable, str(SOAK), "--minutes", "1", "--interval", "10", "--warmup", "20"]
    done = subprocess.run(
        [*command, "--redis", redis_url], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    output = f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    rows = ROW.findall(done.stdout)
    assert len(rows) == 6, output  # 10, 20 (the baseline), 30, 40, 50, 60 s
    assert re.search(r"^\s*20 s .* baseline$", done.stdout, re.MULTILINE), output
    assert "\n  errors: 0\n" in done.stdout, output
    assert re.search(r"jobs: [1-9]\d* enqueued, \d+ ran, 0 lost", done.stdout), output
    assert "fan-out across workers: ok" in done.stdout, output
    assert "PASS: 0 errors, 0 lost jobs, no growth after warm-up" in done.stdout, output
