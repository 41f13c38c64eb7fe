"""Fuzz the cron schedule language: any text is a spec or a ScheduleError with a column inside the
text (never another exception), and a spec's next runs compute, in order, in any time zone."""
from __future__ import annotations

import datetime as dt
import zoneinfo

from hypothesis import given, strategies as st

from gae_emu.config.cronschedule import ScheduleError, parse_schedule
from gae_emu.services.cron.schedule import next_runs

WORDS = ["every", "1", "5", "24", "31", "0", "99999", "hours", "mins", "minutes", "synchronized", "from", "to", "on",
         "of", "day", "month", "quarter", "mon", "tuesday", "sun", "jan", "feb", "sep", "1st", "2nd", "5th", "third",
         "fifth", "00:00", "9:30", "23:59", "02:30", "24:00", ",", "tues", "hour"]
ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]

texts = st.one_of(st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), st.text(max_size=40))


@given(texts, st.sampled_from(ZONES), st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1)))
def test_any_text_parses_or_names_a_column(counted, text, zone, start):
    counted()
    try:
        spec = parse_schedule(text)
    except ScheduleError as exc:
        assert 1 <= exc.column <= len(text) + 1 and exc.message
        return
    after = start.replace(tzinfo=dt.timezone.utc)
    runs = next_runs(spec, zoneinfo.ZoneInfo(zone), after, 3)
    assert all(a < b for a, b in zip([after] + runs, runs))
