"""When a cron schedule runs next: Google's schedule parser's arithmetic, on `zoneinfo` time zones.

`next_run(spec, zone, after)` is the first run strictly after `after` (an aware datetime), as the
SDK's `groctimespecification` computes it:

- A plain interval (`every 5 minutes`) is `after` plus the interval, rounded *down* to the minute by
  dropping the seconds (microseconds are kept, as there).
- An interval with a range (`from 10:00 to 14:00`, or `synchronized`, the range 00:00-23:59) counts
  whole intervals from the start of the most recent range in the job's time zone; past the range's
  end the next run is the next range's start. `on` weekdays skips days, one interval at a time.
- A specific time (`every mon 09:00`, `1st,15 of month 10:00`) is the next matching local day and
  time after `after`.
- Daylight saving: a local time that does not exist that day is skipped that day for a specific
  time, and moved to the first minute that exists for a range's start; a local time that happens
  twice runs at its first occurrence, unless `after` is already past that one (then the second).

Absolute arithmetic is done in UTC: `zoneinfo` compares and subtracts two times of one zone by
their wall clocks, where the reference (pytz) counts real elapsed time.

Imports: the standard library, `gae_emu.config.cronschedule`.
"""
from __future__ import annotations

import calendar
import datetime as dt
from typing import Iterator, List, Optional, Tuple

from gae_emu.config.cronschedule import IntervalSpec, ScheduleSpec, SpecificSpec

UTC = dt.timezone.utc
# How far ahead a specific time is looked for. Every day-of-month and ordinal weekday recurs within
# 28 years (the calendar's cycle), so a schedule with no run in a century never runs.
SEARCH_YEARS = 100


def next_run(spec: ScheduleSpec, zone: dt.tzinfo, after: dt.datetime) -> Optional[dt.datetime]:
    """The first run strictly after `after` (aware), in `after`'s time zone; None if the schedule
    never runs again (`2nd sun of mar 02:15` in New York names a time that never exists)."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    if isinstance(spec, IntervalSpec):
        result = _next_interval(spec, zone, after.astimezone(UTC))
    else:
        result = _next_specific(spec, zone, after)
        if result is None:
            return None
    return result.astimezone(after.tzinfo)


def next_runs(spec: ScheduleSpec, zone: dt.tzinfo, after: dt.datetime, count: int) -> List[dt.datetime]:
    out: List[dt.datetime] = []
    for _ in range(count):
        found = next_run(spec, zone, after)
        if found is None:
            break
        out.append(found)
        after = found
    return out


# -- local times that may not exist or may exist twice -----------------------------------------------

def _occurrences(naive: dt.datetime, zone: dt.tzinfo) -> List[dt.datetime]:
    """The UTC instants a local wall time names in `zone`: none (a gap), one, or two (a fold)."""
    found = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive and instant not in found:
            found.append(instant)
    return sorted(found)


def _combine(day: dt.date, time: Tuple[int, int], zone: dt.tzinfo) -> dt.datetime:
    """A range bound on a day, in UTC: the earlier of two occurrences; in a gap, the first minute
    after it that exists (a 2:15-2:45 range fires at 3:00 on a spring-forward day, as the reference)."""
    naive = dt.datetime(day.year, day.month, day.day, time[0], time[1])
    while True:
        found = _occurrences(naive, zone)
        if found:
            return found[0]
        naive += dt.timedelta(minutes=1)


# -- intervals -----------------------------------------------------------------------------------

def _next_interval(spec: IntervalSpec, zone: dt.tzinfo, after: dt.datetime) -> dt.datetime:
    step = dt.timedelta(seconds=spec.seconds)
    while True:
        candidate = _interval_candidate(spec, zone, after)
        if spec.weekdays is None or _groc_weekday(candidate.astimezone(zone)) in spec.weekdays:
            return candidate
        after = after + step


def _interval_candidate(spec: IntervalSpec, zone: dt.tzinfo, after: dt.datetime) -> dt.datetime:
    if spec.start is None or spec.end is None:
        result = after + dt.timedelta(seconds=spec.seconds)
        return result - dt.timedelta(seconds=result.second)
    range_start = _previous(after, spec.start, zone)
    elapsed = int((after - range_start).total_seconds())
    intervals = (elapsed + spec.seconds) // spec.seconds
    at = range_start + dt.timedelta(seconds=intervals * spec.seconds)
    next_start = _following(after, spec.start, zone)
    if _in_range(spec, zone, after) and _in_range(spec, zone, at) and at < next_start:
        return at
    return next_start


def _in_range(spec: IntervalSpec, zone: dt.tzinfo, instant: dt.datetime) -> bool:
    """Within [start, end] of the day's range, both ends included (a range may cross midnight)."""
    assert spec.start is not None and spec.end is not None
    last_start = _previous(instant, spec.start, zone)
    last_end = _previous(instant, spec.end, zone)
    return last_start > last_end or instant == last_end


def _previous(instant: dt.datetime, time: Tuple[int, int], zone: dt.tzinfo) -> dt.datetime:
    """The latest instant <= `instant` whose local time is `time`."""
    day = instant.astimezone(zone).date()
    while True:
        result = _combine(day, time, zone)
        if result <= instant:
            return result
        day -= dt.timedelta(days=1)


def _following(instant: dt.datetime, time: Tuple[int, int], zone: dt.tzinfo) -> dt.datetime:
    """The earliest instant > `instant` whose local time is `time`."""
    day = instant.astimezone(zone).date()
    while True:
        result = _combine(day, time, zone)
        if result > instant:
            return result
        day += dt.timedelta(days=1)


def _groc_weekday(local: dt.datetime) -> int:
    return (local.weekday() + 1) % 7  # the schedule language counts from Sunday = 0


# -- specific times ------------------------------------------------------------------------------

def _next_specific(spec: SpecificSpec, zone: dt.tzinfo, after: dt.datetime) -> Optional[dt.datetime]:
    local = after.astimezone(zone).replace(tzinfo=None)
    after_utc = after.astimezone(UTC)
    for year, month in _months_from(local.year, local.month, spec.months):
        if year > local.year + SEARCH_YEARS:
            return None
        days = _matching_days(spec, year, month)
        if (year, month) == (local.year, local.month):
            days = [d for d in days if d >= local.day]
        for day in days:
            naive = dt.datetime(year, month, day, spec.time[0], spec.time[1])
            found = _occurrences(naive, zone)
            if not found:
                continue  # the time does not exist that day: skip the day
            # Twice that day: the first occurrence, unless `after` is not before it.
            instant = found[0] if len(found) == 1 or after_utc < found[0] else found[1]
            if after_utc < instant:
                return instant
    raise AssertionError("unreachable: the month generator only ends by the year limit")


def _months_from(year: int, month: int, months: frozenset) -> Iterator[Tuple[int, int]]:
    """Chosen months from (year, month) on, forever."""
    ordered = sorted(months)
    while True:
        for m in ordered:
            if m >= month:
                yield year, m
        year, month = year + 1, 1


def _matching_days(spec: SpecificSpec, year: int, month: int) -> List[int]:
    first_weekday, last_day = calendar.monthrange(year, month)
    if spec.monthdays:
        return sorted(d for d in spec.monthdays if d <= last_day)
    first = (first_weekday + 1) % 7  # Sunday = 0
    days = set()
    for ordinal in spec.ordinals:
        for weekday in spec.weekdays:
            day = (weekday - first) % 7 + 1 + 7 * (ordinal - 1)
            if day <= last_day:
                days.add(day)
    return sorted(days)

