"""Cron expressions: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first.

Each field takes `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and names (`jan`,
`mon`). Day 7 is Sunday like day 0. As in Vixie cron, when both day fields are restricted a day matching
either one fires. Times are wall-clock times in the schedule's timezone: a time skipped by a DST change
does not fire, a time that happens twice fires once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                            "oct", "nov", "dec"))}  # fmt: skip
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SEARCH_DAYS = 366 * 5  # an expression with no time in five years (e.g. Feb 30) never fires


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message names the field and what it accepts."""


def _field(text: str, name: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body in ("*", "?"):
                start, end = low, high
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = _number(a, names), _number(b, names)
            else:
                start = _number(body, names)
                end = high if step_text else start
        except ValueError:
            raise CronError(
                f"the {name} field {text!r} is not valid: use *, n, a-b, */n, a-b/n or a list"
            ) from None
        if step < 1 or not low <= start <= end <= high:
            raise CronError(f"the {name} field {text!r} is outside {low}-{high} (or has a step below 1)")
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    return int(text)


class Cron:
    """A parsed expression; `next_after(when)` is the next time it fires, strictly after `when`."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        fields = expression.split()
        if len(fields) not in (5, 6):
            raise CronError(
                f"cron {expression!r} has {len(fields)} fields; use 5 (minute hour day month weekday) "
                "or 6 (second first)"
            )
        if len(fields) == 5:
            fields = ["0", *fields]
        self.expression = expression
        self.seconds = _field(fields[0], "second", 0, 59)
        self.minutes = _field(fields[1], "minute", 0, 59)
        self.hours = _field(fields[2], "hour", 0, 23)
        self.days = _field(fields[3], "day-of-month", 1, 31)
        self.months = _field(fields[4], "month", 1, 12, _MONTHS)
        self.weekdays = {d % 7 for d in _field(fields[5], "day-of-week", 0, 7, _DAYS)}
        self.any_day = fields[3] in ("*", "?")
        self.any_weekday = fields[5] in ("*", "?")
        try:
            self.tz = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise CronError(f"unknown timezone {timezone!r}; use an IANA name such as Europe/Paris") from exc

    def _day_ok(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, when: datetime) -> datetime:
        """The first firing time after the aware datetime `when`, in the schedule's timezone."""
        t = when.astimezone(self.tz).replace(microsecond=0, tzinfo=None) + timedelta(seconds=1)
        limit = t + timedelta(days=_SEARCH_DAYS)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                aware = t.replace(tzinfo=self.tz)
                if aware.astimezone(ZoneInfo("UTC")).astimezone(self.tz).replace(tzinfo=None) == t:
                    return aware
                t += timedelta(seconds=1)  # skipped by a DST change
        raise CronError(f"cron {self.expression!r} never fires")
