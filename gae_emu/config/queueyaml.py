"""Loading queue.yaml into a `QueueConfig`, and `QueueConfigWatcher`, which picks up edits live.

Rules are App Engine's `queueinfo` (B6). Retry parameters are stored exactly as written (None =
not set); `RetryParameters.effective()` (models.py) applies the proto defaults and B7's translation
of a lone min or max backoff, so the task queue service reads one place.

Imports: the standard library, `gae_emu.config.*` (which imports yaml).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Union

from gae_emu.config.models import DEFAULT_QUEUE, QueueConfig, QueueDef, RetryParameters
from gae_emu.config.watch import FileWatcher
from gae_emu.config.yamlsource import MapView, Source, Value

log = logging.getLogger("gae_emu.config")

QUEUE_FILES = ("queue.yaml", "queue.yml")
TOP_KEYS = ("queue", "total_storage_limit", "resume_paused_queues")
QUEUE_KEYS = ("name", "mode", "rate", "bucket_size", "max_concurrent_requests", "target",
              "retry_parameters", "acl")
RETRY_KEYS = ("task_retry_limit", "task_age_limit", "min_backoff_seconds", "max_backoff_seconds",
              "max_doublings")
NAME_RE = r"[A-Za-z0-9-]{1,100}"
RATE_RE = r"0|[0-9]+(\.[0-9]*)?/[smhd]"
TARGET_RE = r"(?:(?!-)[a-z\d\-]{1,100}\.)?(?!-)[a-z\d\-]{1,63}"
STORAGE_RE = r"[0-9]+(\.[0-9]*)?[BKMGT]?"
MAX_BUCKET_SIZE = 500  # production refuses larger buckets
_PER_SECOND = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def find_queue_yaml(app_root: Path) -> Optional[Path]:
    for name in QUEUE_FILES:
        if (Path(app_root) / name).is_file():
            return Path(app_root) / name
    return None


def load_queue_yaml(app_root: Union[str, Path], *, display_root: Optional[str] = None) -> QueueConfig:
    """The queues of the app at `app_root`; no queue.yaml means only `default`.

    Messages name the file as `display_root/queue.yaml` (default: app_root as given)."""
    path = find_queue_yaml(Path(app_root))
    if path is None:
        return QueueConfig()
    src = Source(path, os.path.join(str(display_root if display_root is not None else app_root), path.name))
    top = src.load()
    top.reject_unknown(TOP_KEYS)
    storage = None
    if "total_storage_limit" in top:
        storage = top.get("total_storage_limit").as_str(
            pattern=STORAGE_RE, pattern_desc="a size like 120M (units B, K, M, G, T)")
    if "resume_paused_queues" in top:
        top.get("resume_paused_queues").as_bool()
    queues: Dict[str, QueueDef] = {}
    items = top.get("queue").as_list() if "queue" in top else []
    for item in items:
        queue = _queue(item)
        if queue is None:
            continue
        if queue.name in queues:
            item.src.error(item.value.value_marks["name"], f"{item.path}.name",
                           f"queue {queue.name!r} is defined twice")
            continue
        queues[queue.name] = queue
    src.check()
    # `default` always exists; a user's definition replaces the built-in one.
    ordered = [queues.pop("default", DEFAULT_QUEUE)] + list(queues.values())
    return QueueConfig(queues=tuple(ordered), total_storage_limit=storage, path=path.resolve())


def parse_rate(text: str) -> float:
    """`5/s` → 5.0 tasks per second; `0` pauses the queue."""
    if text == "0":
        return 0.0
    number, unit = text.split("/")
    return float(number) / _PER_SECOND[unit]


def _queue(item: Value) -> Optional[QueueDef]:
    view = item.as_map()
    if view is None:
        return None
    view.reject_unknown(QUEUE_KEYS, "a queue")
    if not view.require("name"):
        return None
    name = view.get("name").as_str(pattern=NAME_RE, pattern_desc="a queue name (letters, digits, '-', at most 100)")
    fields: Dict[str, object] = {}
    if "mode" in view:
        fields["mode"] = view.get("mode").as_str(choices=("push", "pull"))
    if "rate" in view:
        rate = view.get("rate").as_str(pattern=RATE_RE, pattern_desc="a rate like 5/s (units s, m, h, d) or 0")
        if rate is not None:
            fields["rate"], fields["rate_per_second"] = rate, parse_rate(rate)
    if "bucket_size" in view:
        fields["bucket_size"] = view.get("bucket_size").as_int(minimum=1, maximum=MAX_BUCKET_SIZE)
    if "max_concurrent_requests" in view:
        fields["max_concurrent_requests"] = view.get("max_concurrent_requests").as_int(minimum=1)
    if "target" in view:
        fields["target"] = view.get("target").as_str(
            pattern=TARGET_RE, pattern_desc="a target like 'worker' or 'v1.worker'")
    if "retry_parameters" in view:
        fields["retry_parameters"] = _retry_parameters(view.get("retry_parameters"))
    if "acl" in view:
        _acl(view.get("acl"))  # checked for shape; gae-emu does not enforce queue ACLs
    if fields.get("mode") == "pull" and "rate" in fields:
        log.warning("%s: a pull queue's rate is ignored", view.src.location(view.mark))
    if name is None:
        return None
    return QueueDef(name=name, **{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]


def _retry_parameters(value: Value) -> Optional[RetryParameters]:
    view = value.as_map()
    if view is None:
        return None
    view.reject_unknown(RETRY_KEYS, "retry_parameters")
    fields = retry_fields(view, "task_retry_limit", "task_age_limit")
    return RetryParameters(**{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]


def retry_fields(view: MapView, limit_key: str, age_key: str, limit_max: Optional[int] = None) -> Dict[str, object]:
    """The fields of a `retry_parameters` mapping (queue.yaml's `task_*`, cron.yaml's `job_*`
    limits; the same backoff keys), checked; a field set wrongly is None."""
    fields: Dict[str, object] = {}
    if limit_key in view:
        fields[limit_key] = view.get(limit_key).as_int(minimum=0, maximum=limit_max)
    if "max_doublings" in view:
        fields["max_doublings"] = view.get("max_doublings").as_int(minimum=0)
    if age_key in view:
        age_value = view.get(age_key)
        age = age_value.as_duration()
        if age is not None and age <= 0:
            age_value.error("must be more than zero")
            age = None
        fields[age_key] = age
    for key in ("min_backoff_seconds", "max_backoff_seconds"):
        if key in view:
            fields[key] = view.get(key).as_number(minimum=0)
    low, high = fields.get("min_backoff_seconds"), fields.get("max_backoff_seconds")
    if low is not None and high is not None and high < low:  # type: ignore[operator]
        view.get("max_backoff_seconds").error(
            f"must be at least min_backoff_seconds ({low}), got {high}")
    return fields


def _acl(value: Value) -> None:
    for item in value.as_list():
        view = item.as_map()
        if view is not None:
            view.reject_unknown(("user_email", "writer_email"), "acl")
            for key in view.keys():
                view.get(key).as_str()


class QueueConfigWatcher(FileWatcher[QueueConfig]):
    """The current QueueConfig of an app, reloaded when queue.yaml changes (B6: the stub reloads on
    mtime). `current()` is cheap enough to call on every task add: it stats at most every
    `interval` seconds. A broken file mid-edit is logged and the last good config kept."""

    def __init__(self, app_root: Union[str, Path], *, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, display_root: Optional[str] = None) -> None:
        self.app_root = Path(app_root)
        self.display_root = display_root if display_root is not None else str(app_root)
        super().__init__("queue.yaml", [self.app_root / name for name in QUEUE_FILES],
                         lambda: load_queue_yaml(self.app_root, display_root=self.display_root),
                         interval=interval, clock=clock)
