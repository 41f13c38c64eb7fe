"""`ConsoleEcho`: an instance's output on the console, with a failure's traceback shown once."""
from __future__ import annotations

from gae_emu.runtime.instances import ConsoleEcho

TRACEBACK = ["Traceback (most recent call last):", '  File "/app/main.py", line 9, in explode',
             "    raise RuntimeError('boom')", "RuntimeError: boom"]


def echo_of(*chunks):
    written = []
    echo = ConsoleEcho(written.append)
    for chunk in chunks:
        for line in chunk:
            echo(line)
    return written


def test_the_same_traceback_reported_twice_in_a_row_is_shown_once():
    """Google's deferred handler logs a task's failure, and so does the request's error report; a
    task's retries fail the same way: gae-emu's line per attempt says so, the traceback once."""
    written = echo_of(TRACEBACK, TRACEBACK, TRACEBACK)
    assert written == ["\n".join(TRACEBACK)]


def test_a_repeat_after_other_output_is_a_short_line():
    written = echo_of(TRACEBACK, ["GET /page"], TRACEBACK, TRACEBACK, ["GET /page"], TRACEBACK)
    note = "(the same traceback as before, not repeated: RuntimeError: boom)"
    assert written == ["\n".join(TRACEBACK), "GET /page", note, "GET /page", note]


def test_another_error_is_shown_in_full():
    other = TRACEBACK[:-1] + ["RuntimeError: other"]
    assert echo_of(TRACEBACK, other) == ["\n".join(TRACEBACK), "\n".join(other)]


def test_log_level_critical_silences_the_instances_output():
    import logging

    logger = logging.getLogger("gae_emu")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        assert echo_of(["an app's line"], TRACEBACK) == []
    finally:
        logger.setLevel(before)
    assert echo_of(["an app's line"]) == ["an app's line"]
