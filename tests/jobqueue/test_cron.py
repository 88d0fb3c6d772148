"""Cron expressions: fields, names, steps, the day-of-month/day-of-week rule, timezones and DST."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gingee_kernel.jobqueue.cron import Cron, CronError

UTC = timezone.utc


def nexts(expression: str, start: datetime, count: int = 3, tz: str = "UTC") -> list[str]:
    cron = Cron(expression, tz)
    out, when = [], start
    for _ in range(count):
        when = cron.next_after(when)
        out.append(when.isoformat())
    return out


def test_five_fields_fire_on_the_minute() -> None:
    start = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
    assert nexts("*/15 * * * *", start) == [
        "2026-03-10T12:15:00+00:00",
        "2026-03-10T12:30:00+00:00",
        "2026-03-10T12:45:00+00:00",
    ]
    assert nexts("0 9 * * mon-fri", datetime(2026, 3, 13, 10, 0, tzinfo=UTC), 2) == [
        "2026-03-16T09:00:00+00:00",
        "2026-03-17T09:00:00+00:00",
    ]


def test_six_fields_have_seconds_first() -> None:
    start = datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert nexts("*/20 * * * * *", start) == [
        "2026-01-01T00:00:20+00:00",
        "2026-01-01T00:00:40+00:00",
        "2026-01-01T00:01:00+00:00",
    ]


def test_lists_ranges_names_and_sunday_as_7() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert nexts("30 6,18 1 jan,jul *", start, 3) == [
        "2026-01-01T06:30:00+00:00",
        "2026-01-01T18:30:00+00:00",
        "2026-07-01T06:30:00+00:00",
    ]
    assert nexts("0 0 * * 7", start, 1) == nexts("0 0 * * sun", start, 1) == ["2026-01-04T00:00:00+00:00"]


def test_restricted_day_fields_match_either() -> None:
    # The 13th of the month, or any Friday (Vixie cron): 2026-02-06 is a Friday, then Friday the 13th.
    assert nexts("0 0 13 * fri", datetime(2026, 2, 1, tzinfo=UTC), 3) == [
        "2026-02-06T00:00:00+00:00",
        "2026-02-13T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00",
    ]


def test_timezone_and_daylight_saving() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 02:30 does not exist on 2026-03-29 in Paris (clocks go 02:00 -> 03:00): that day is skipped.
    assert nexts("30 2 * * *", datetime(2026, 3, 28, 12, 0, tzinfo=paris), 2, "Europe/Paris") == [
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    # 9:00 in New York is 14:00 UTC in winter.
    assert Cron("0 9 * * *", "America/New_York").next_after(datetime(2026, 1, 5, tzinfo=UTC)).astimezone(
        UTC
    ) == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("61 * * * *", "minute field"),
        ("* * * * mon-funday", "day-of-week field"),
        ("*/0 * * * *", "step below 1"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        Cron(expression).next_after(datetime(2026, 1, 1, tzinfo=UTC))


def test_unknown_timezone() -> None:
    with pytest.raises(CronError, match="unknown timezone 'Mars/Olympus'"):
        Cron("* * * * *", "Mars/Olympus")
