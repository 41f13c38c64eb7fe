"""Whatever bytes a config file holds, loading it gives a config or `file:line:col` problems (exit 2
from the CLI), never a traceback: control characters, invalid UTF-8, deep nesting, huge files,
explicit tags with bad values, unprintable keys. A broken live queue.yaml edit keeps the last good
queues and says so once."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gae_emu.config.errors import ConfigError
from gae_emu.config.queueyaml import QueueConfigWatcher, load_queue_yaml
from gae_emu.config.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, Source

HEAD = b"runtime: python27\napi_version: 1\nthreadsafe: true\n"


def problems_of(tmp_path: Path, data: bytes):
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        Source(path, "x.yaml").load()
    return info.value.problems


@pytest.mark.parametrize("data, expected", [
    (b"a: 1\nb: x\x01y\n", "x.yaml:2:5: control character U+0001 is not allowed in YAML"),
    (b"a: \x1b[31m\n", "x.yaml:1:4: control character U+001B"),
    (b"a: 1\n\x00", "x.yaml:2:1: control character U+0000"),
    (b"a: ok\nb: \xc3\x28\n", "x.yaml:2:4: invalid UTF-8 (byte 0xc3)"),
    (b"a: \xe2\x82\xac\xff\n", "x.yaml:1:5: invalid UTF-8 (byte 0xff)"),
    (b"a: !!timestamp 2001-01-011\n", "x.yaml:1:4: YAML syntax error: '2001-01-011' is not a valid timestamp"),
    (b"a: !!int abc\n", "x.yaml:1:4: YAML syntax error: 'abc' is not a valid int"),
    (b"a: &x [*x]\n", "x.yaml:1:4: YAML syntax error: found unconstructable recursive node"),
])
def test_bad_bytes_and_tags_are_located(tmp_path, data, expected):
    assert problems_of(tmp_path, data)[0].startswith(expected)


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{a: ", "}")])
def test_deep_flow_nesting_is_refused_where_it_crosses_the_limit(tmp_path, opener, closer):
    data = ("a: " + opener * 5000 + closer * 5000 + "\n").encode()
    line = problems_of(tmp_path, data)[0]
    assert line.startswith("x.yaml:1:") and line.endswith(f"nested too deeply (more than {MAX_DEPTH} levels)")


def test_deep_block_nesting_is_refused(tmp_path):
    data = b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 200))
    assert problems_of(tmp_path, data)[0].endswith(f"nested too deeply (more than {MAX_DEPTH} levels)")
    assert problems_of(tmp_path, b"a:\n" + b"- " * 3000 + b"x\n")[0].endswith("nested too deeply "
                                                                             f"(more than {MAX_DEPTH} levels)")


def test_nesting_up_to_the_limit_loads(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert "a" in Source(path, "x.yaml").load()


def test_huge_file_is_refused_with_the_limit(tmp_path):
    data = b"a: " + b"x" * MAX_FILE_BYTES + b"\n"
    assert problems_of(tmp_path, data) == ["x.yaml: file is larger than 1024 KiB, the limit for a config file"]


def test_unprintable_keys_and_values_are_escaped_in_messages(tmp_path):
    (tmp_path / "app.yaml").write_bytes(HEAD + b'"\\ud800\\x1b[2J": 1\nhandlers:\n- url: "/\\n"\n  script: main.app\n')
    from gae_emu.config.appyaml import load_app_yaml
    with pytest.raises(ConfigError) as info:
        load_app_yaml(tmp_path, check_imports=False)
    text = str(info.value)
    assert "\\ud800\\x1b[2J: unknown key" in text
    assert "\x1b" not in text and "\ud800" not in text
    text.encode("utf-8")  # printable on any terminal


def test_every_yaml_type_where_a_string_is_expected(tmp_path):
    for value in ("[a]", "{a: 1}", "2001-12-14", "2001-12-14T21:59:43Z", "!!binary aGk=", "!!set {a}",
                  "!!omap [a: 1]", ".nan", "-.inf", "1e400", "0x1F", "~", "99999999999999999999999"):
        (tmp_path / "app.yaml").write_bytes(HEAD + f"service: {value}\nhandlers:\n- url: /\n  script: {value}\n".encode())
        from gae_emu.config.appyaml import load_app_yaml
        with pytest.raises(ConfigError) as info:
            load_app_yaml(tmp_path, check_imports=False)
        assert all(":" in line for line in info.value.problems), value


@pytest.mark.parametrize("data", [b"runtime: python27\nx: \x01\n", b"runtime: [" * 200 + b"\n",
                                  b"runtime: python27\n\xff\n"])
def test_cli_check_exits_2_with_one_located_line(tmp_path, data):
    (tmp_path / "app.yaml").write_bytes(data)
    result = subprocess.run([sys.executable, "-m", "gae_emu", "check", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"gae-emu: {tmp_path / 'app.yaml'}:"), result.stderr


def test_broken_live_queue_edit_keeps_last_good_and_says_so_once(tmp_path, caplog):
    queue_yaml = tmp_path / "queue.yaml"
    queue_yaml.write_text("queue:\n- name: a\n")
    now = [1000.0]
    watcher = QueueConfigWatcher(tmp_path, clock=lambda: now[0])
    assert watcher.current().names == ("default", "a")
    queue_yaml.write_bytes(b"queue:\n- name: b\x01\n")
    os.utime(queue_yaml, ns=(0, queue_yaml.stat().st_mtime_ns + 10**9))
    with caplog.at_level(logging.ERROR, logger="gae_emu.config"):
        for _ in range(5):
            now[0] += 1
            assert watcher.current().names == ("default", "a")
    said = [r for r in caplog.records if "not reloaded" in r.getMessage()]
    assert len(said) == 1 and "queue.yaml:2:10: control character U+0001" in said[0].getMessage()
    with pytest.raises(ConfigError):
        load_queue_yaml(tmp_path)
