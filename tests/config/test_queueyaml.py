"""queue.yaml: validation with located messages, the default queue, B7's translation, live reload."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gae_emu.config.errors import ConfigError
from gae_emu.config.models import DEFAULT_QUEUE, QueueConfig, RetryParameters
from gae_emu.config.queueyaml import QueueConfigWatcher, load_queue_yaml, parse_rate


def errors(write, text: str, name: str = "queue.yaml"):
    write(name, text)
    with pytest.raises(ConfigError) as info:
        load_queue_yaml("app")
    return info.value.problems


def test_no_queue_yaml_means_only_default(app_dir):
    config = load_queue_yaml(app_dir)
    assert config == QueueConfig() and config.names == ("default",) and config.get("default") is DEFAULT_QUEUE
    assert config.get("other") is None


def test_full_queue_yaml(write):
    write("queue.yaml", """
        total_storage_limit: 120M
        resume_paused_queues: true
        queue:
        - name: mail
          mode: push
          rate: 10/m
          bucket_size: 40
          max_concurrent_requests: 3
          target: v1.worker
          retry_parameters:
            task_retry_limit: 7
            task_age_limit: 1.5h
            min_backoff_seconds: 10
            max_backoff_seconds: 300
            max_doublings: 3
        - name: pull-q
          mode: pull
          acl:
          - user_email: a@example.com
          - writer_email: b@example.com
    """)
    config = load_queue_yaml("app")
    assert config.names == ("default", "mail", "pull-q") and config.total_storage_limit == "120M"
    assert config.path is not None and config.path.name == "queue.yaml"
    mail = config.get("mail")
    assert (mail.rate, mail.rate_per_second, mail.bucket_size, mail.max_concurrent_requests, mail.target) == (
        "10/m", pytest.approx(10 / 60), 40, 3, "v1.worker")
    assert mail.retry_parameters == RetryParameters(7, 5400.0, 10.0, 300.0, 3)
    assert config.get("pull-q").mode == "pull" and config.get("pull-q").retry_parameters is None


def test_queue_yml_is_found_too(write):
    write("queue.yml", "queue:\n- name: other\n  rate: 1/s\n")
    assert load_queue_yaml("app").names == ("default", "other")


def test_user_default_replaces_the_builtin_one(write):
    write("queue.yaml", "queue:\n- name: fast\n  rate: 100/s\n- name: default\n  rate: 1/s\n")
    config = load_queue_yaml("app")
    assert config.names == ("default", "fast")
    assert config.get("default").rate_per_second == 1.0 and config.get("default").bucket_size is None


@pytest.mark.parametrize("text, per_second", [("0", 0.0), ("5/s", 5.0), ("1.5/s", 1.5), ("60/m", 1.0),
                                              ("3600/h", 1.0), ("86400/d", 1.0), ("2./s", 2.0)])
def test_parse_rate(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


def test_every_rejected_queue_field(write):
    problems = errors(write, """
        total_storage_limit: lots
        colour: red
        queue:
        - name: bad name
          mode: pul
          rate: 5/x
          bucket_size: 0
          max_concurrent_requests: -1
          target: Worker_1
        - name: ok
          bucket_size: 501
          retry_parameters:
            task_retry_limit: -1
            task_age_limit: 0s
            min_backoff_seconds: fast
            max_doublings: 1.5
            max_tries: 3
        - name: ok
        - rate: 1/s
        - just a string
    """)
    assert problems == [
        "app/queue.yaml:1:22: total_storage_limit: 'lots' is not a size like 120M (units B, K, M, G, T)",
        "app/queue.yaml:2:1: colour: unknown key",
        "app/queue.yaml:4:9: queue[0].name: 'bad name' is not a queue name (letters, digits, '-', at most 100)",
        "app/queue.yaml:5:9: queue[0].mode: 'pul' is not one of push, pull",
        "app/queue.yaml:6:9: queue[0].rate: '5/x' is not a rate like 5/s (units s, m, h, d) or 0",
        "app/queue.yaml:7:16: queue[0].bucket_size: must be at least 1, got 0",
        "app/queue.yaml:8:28: queue[0].max_concurrent_requests: must be at least 1, got -1",
        "app/queue.yaml:9:11: queue[0].target: 'Worker_1' is not a target like 'worker' or 'v1.worker'",
        "app/queue.yaml:11:16: queue[1].bucket_size: must be at most 500, got 501",
        "app/queue.yaml:13:23: queue[1].retry_parameters.task_retry_limit: must be at least 0, got -1",
        "app/queue.yaml:14:21: queue[1].retry_parameters.task_age_limit: must be more than zero",
        "app/queue.yaml:15:26: queue[1].retry_parameters.min_backoff_seconds: expected a number, got a string ('fast')",
        "app/queue.yaml:16:20: queue[1].retry_parameters.max_doublings: expected an integer, got a number (1.5)",
        "app/queue.yaml:17:5: queue[1].retry_parameters.max_tries: unknown key in retry_parameters",
        "app/queue.yaml:18:9: queue[2].name: queue 'ok' is defined twice",
        "app/queue.yaml:19:3: queue[3]: missing required key 'name'",
        "app/queue.yaml:20:3: queue[4]: expected a mapping, got a string ('just a string')",
    ]


def test_task_age_limit_needs_a_unit_and_backoffs_must_be_ordered(write):
    problems = errors(write, "queue:\n- name: q\n  retry_parameters:\n    task_age_limit: 10\n"
                             "    min_backoff_seconds: 10\n    max_backoff_seconds: 5\n")
    assert problems == [
        "app/queue.yaml:4:21: queue[0].retry_parameters.task_age_limit: '10' is not a duration like '2d' or "
        "'1.5h' (a number and one of s, m, h, d)",
        "app/queue.yaml:6:26: queue[0].retry_parameters.max_backoff_seconds: must be at least "
        "min_backoff_seconds (10.0), got 5.0",
    ]


def test_queue_yaml_syntax_error_and_empty_file(write):
    assert errors(write, "queue:\n- name: [\n") == [
        "app/queue.yaml:3:1: YAML syntax error: expected the node content, but found '<stream end>'"]
    assert errors(write, "") == ["app/queue.yaml: file is empty"]


def test_retry_parameters_store_what_was_written_and_translate_in_effective():
    assert RetryParameters().effective() == RetryParameters(None, None, 0.1, 3600.0, 16)
    # only min, above the default max: max follows min (B7)
    only_min = RetryParameters(min_backoff_seconds=4000)
    assert only_min.max_backoff_seconds is None
    assert only_min.effective().max_backoff_seconds == 4000
    assert RetryParameters(min_backoff_seconds=10).effective().max_backoff_seconds == 3600.0
    # only max, below the default min: min follows max
    assert RetryParameters(max_backoff_seconds=0.05).effective().min_backoff_seconds == 0.05
    assert RetryParameters(max_backoff_seconds=200).effective().min_backoff_seconds == 0.1
    both = RetryParameters(task_retry_limit=3, task_age_limit=60.0, min_backoff_seconds=1,
                           max_backoff_seconds=2, max_doublings=0)
    assert both.effective() == both


def test_queue_yaml_translation_keeps_raw_values(write):
    write("queue.yaml", "queue:\n- name: slow\n  retry_parameters:\n    min_backoff_seconds: 7200\n")
    params = load_queue_yaml("app").get("slow").retry_parameters
    assert params == RetryParameters(min_backoff_seconds=7200.0)
    assert (params.effective().min_backoff_seconds, params.effective().max_backoff_seconds) == (7200.0, 7200.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_watcher_reloads_on_change_and_keeps_last_good(app_dir, caplog):
    clock = FakeClock()
    watcher = QueueConfigWatcher(app_dir, clock=clock)
    assert watcher.current().names == ("default",)
    queue_yaml = app_dir / "queue.yaml"
    _touch(queue_yaml, "queue:\n- name: a\n", 1)
    assert watcher.current().names == ("default",)  # not re-checked within the interval
    clock.now += 0.5
    assert watcher.current().names == ("default", "a")
    _touch(queue_yaml, "queue:\n- name: a\n  rate: nonsense\n", 2)
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="gae_emu.config"):
        assert watcher.current().names == ("default", "a")
    assert "queue[0].rate: 'nonsense' is not a rate" in caplog.text
    assert watcher.last_error is not None
    _touch(queue_yaml, "queue:\n- name: b\n", 3)
    clock.now += 1
    assert watcher.current().names == ("default", "b") and watcher.last_error is None
    queue_yaml.unlink()
    clock.now += 1
    assert watcher.current().names == ("default",)


def test_watcher_start_up_error_is_raised(write, app_dir):
    write("queue.yaml", "queue: 5\n")
    with pytest.raises(ConfigError) as info:
        QueueConfigWatcher(app_dir)
    assert info.value.problems[0].endswith("queue.yaml:1:8: queue: expected a list, got an integer (5)")
