"""Loading cron.yaml into a `CronConfig`: every key of App Engine's cron.yaml reference.

Rules follow the SDK's `croninfo` and the cron.yaml reference: `url` starts with `/`; `schedule` is
parsed by `cronschedule` (a mistake names its column inside the schedule); `timezone` is an IANA
name known to `zoneinfo`; `description` up to 499 characters; `target` a service (or
`version.service`); `retry_parameters` with `job_retry_limit` 0-5 as production allows; at most
250 jobs. `attempt_deadline` is accepted and checked (`"15s"`, a number of seconds and `s`).

Imports: the standard library, `gae_emu.config.*` (which imports yaml).
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gae_emu.config.cronschedule import ScheduleError, ScheduleSpec, parse_schedule
from gae_emu.config.queueyaml import retry_fields
from gae_emu.config.yamlsource import Mark, Source, Value

TOP_KEYS = ("cron", "application")
JOB_KEYS = ("url", "schedule", "description", "target", "timezone", "retry_parameters", "attempt_deadline")
RETRY_KEYS = ("job_retry_limit", "job_age_limit", "min_backoff_seconds", "max_backoff_seconds", "max_doublings")
MAX_JOBS = 250  # production's limit per app
MAX_JOB_RETRY_LIMIT = 5
MAX_DESCRIPTION = 499
TARGET_RE = r"(?:(?!-)[a-z\d\-]{1,100}[.:])?(?!-)[a-z\d\-]{1,63}"
DEADLINE_RE = r"\s*[0-9]+(\.[0-9]*)?s\s*"


@dataclass(frozen=True)
class CronRetry:
    """A job's retry_parameters as written; None = not set (defaults apply in services/cron)."""

    job_retry_limit: Optional[int] = None
    job_age_limit: Optional[float] = None  # seconds
    min_backoff_seconds: Optional[float] = None
    max_backoff_seconds: Optional[float] = None
    max_doublings: Optional[int] = None


@dataclass(frozen=True)
class CronJob:
    url: str
    schedule: str
    spec: ScheduleSpec = field(compare=False, repr=False)
    description: Optional[str] = None
    target: Optional[str] = None  # "service" or "version.service"
    timezone: str = "UTC"
    retry: Optional[CronRetry] = None
    attempt_deadline: Optional[float] = None  # seconds
    source: str = ""  # "path/cron.yaml:12" for messages

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class CronConfig:
    jobs: Tuple[CronJob, ...] = ()
    path: Optional[Path] = None  # the cron.yaml it came from, if any


def load_cron_yaml(path: Path, display: Optional[str] = None) -> CronConfig:
    """Validate one cron.yaml, or raise ConfigError with every mistake located."""
    src = Source(path, display if display is not None else str(path))
    top = src.load()
    top.reject_unknown(TOP_KEYS)
    if "application" in top:
        top.get("application").as_str()
    jobs: List[CronJob] = []
    items = top.get("cron").as_list() if "cron" in top else []
    if len(items) > MAX_JOBS:
        items[MAX_JOBS].error(f"{len(items)} cron jobs; App Engine allows at most {MAX_JOBS}")
    for item in items:
        job = _job(item)
        if job is not None:
            jobs.append(job)
    src.check()
    return CronConfig(jobs=tuple(jobs), path=Path(path).resolve())


def _job(item: Value) -> Optional[CronJob]:
    view = item.as_map()
    if view is None:
        return None
    view.reject_unknown(JOB_KEYS, "a cron job")
    ok = view.require("url", "schedule")
    url = view.get("url").as_str(pattern=r"/.*", pattern_desc="a path starting with '/'") if "url" in view else None
    schedule_value = view.get("schedule")
    schedule = schedule_value.as_str() if schedule_value is not None else None
    spec = _spec(schedule_value, schedule) if schedule is not None else None
    fields: Dict[str, object] = {}
    if "description" in view:
        text = view.get("description").as_str()
        if text is not None and len(text) > MAX_DESCRIPTION:
            view.get("description").error(f"is {len(text)} characters; at most {MAX_DESCRIPTION}")
        fields["description"] = text
    if "target" in view:
        fields["target"] = view.get("target").as_str(
            pattern=TARGET_RE, pattern_desc="a target like 'worker' or 'v1.worker'")
    if "timezone" in view:
        fields["timezone"] = _timezone(view.get("timezone"))
    if "retry_parameters" in view:
        fields["retry"] = _retry(view.get("retry_parameters"))
    if "attempt_deadline" in view:
        text = view.get("attempt_deadline").as_str(
            pattern=DEADLINE_RE, pattern_desc="a deadline like '180s' (seconds, then 's')")
        fields["attempt_deadline"] = float(text.strip()[:-1]) if text else None
    if not ok or url is None or schedule is None or spec is None:
        return None
    source = f"{view.src.display}:{view.mark.line}"
    return CronJob(url=url, schedule=schedule, spec=spec, source=source,
                   **{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]


def _spec(value: Value, text: str) -> Optional[ScheduleSpec]:
    try:
        return parse_schedule(text)
    except ScheduleError as exc:
        mark = _inside(value, exc.column)
        value.src.error(mark, value.path, f"{text!r} is not a schedule App Engine accepts: {exc.message} "
                                          f"(column {exc.column} of the schedule)")
        return None


def _inside(value: Value, column: int) -> Mark:
    """The file position of a schedule's column: after the opening quote of a quoted scalar, on the
    value's line (a schedule spread over lines is pointed at its start)."""
    try:
        line = value.src.path.read_text(encoding="utf-8").splitlines()[value.mark.line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return value.mark
    start = value.mark.column - 1
    quoted = start < len(line) and line[start] in "'\""
    offset = column - 1 + (1 if quoted else 0)
    if start + offset > len(line) + 1 or "\n" in (value.raw or ""):
        return value.mark
    return Mark(value.mark.line, value.mark.column + offset)


def _timezone(value: Value) -> Optional[str]:
    name = value.as_str()
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        value.error(f"{name!r} is not a known time zone (an IANA name such as 'America/New_York')")
        return None
    return name


def _retry(value: Value) -> Optional[CronRetry]:
    view = value.as_map()
    if view is None:
        return None
    view.reject_unknown(RETRY_KEYS, "retry_parameters")
    fields = retry_fields(view, "job_retry_limit", "job_age_limit", MAX_JOB_RETRY_LIMIT)
    return CronRetry(**{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]
