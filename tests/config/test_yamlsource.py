"""The located YAML reader and the typed checks shared by app.yaml and queue.yaml."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gae_emu.config.errors import ConfigError, Problem
from gae_emu.config.yamlsource import Source, parse_duration, parse_expiration

CONFIG_DIR = Path(__file__).resolve().parents[2] / "gae_emu" / "config"


def load(tmp_path: Path, text: str):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    src = Source(path, "x.yaml")
    return src, src.load()


def test_positions_are_one_based_for_keys_and_values(tmp_path):
    src, top = load(tmp_path, "a: 1\nlist:\n  - b: two\n")
    assert top.key_mark("a") == (1, 1) and top.get("a").mark == (1, 4)
    item = top.get("list").as_list()[0]
    assert item.mark == (3, 5) and item.path == "list[0]"
    inner = item.as_map()
    assert inner.get("b").mark == (3, 8) and inner.get("b").path == "list[0].b"


def test_keys_are_source_text_and_raw_scalars_are_kept(tmp_path):
    src, top = load(tmp_path, "on: yes\nversion: 1.10\nn: 007\n")
    assert top.keys() == ["on", "version", "n"]  # YAML 1.1 would make the first key True
    assert top.get("on").as_bool() is True
    assert top.get("version").as_str() == "1.10" and top.get("n").as_str() == "007"


def test_merge_keys_work(tmp_path):
    src, top = load(tmp_path, "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n")
    assert dict(top.get("derived").as_map().data) == {"x": 1, "y": 2}


def test_typed_checks_record_problems_instead_of_raising(tmp_path):
    src, top = load(tmp_path, "s: [1]\nb: 2\ni: x\nn: true\nr: '('\nm: str\nl: {a: 1}\nk: 5\n")
    assert top.get("s").as_str() is None
    assert top.get("b").as_bool() is None
    assert top.get("i").as_int() is None
    assert top.get("n").as_number() is None
    assert top.get("r").as_regex() is None
    assert top.get("m").as_map() is None
    assert top.get("l").as_list() == []
    assert top.get("k").as_int(maximum=4) is None
    assert [str(p) for p in src.problems] == [
        "x.yaml:1:4: s: expected a string, got a list",
        "x.yaml:2:4: b: expected true or false, got an integer (2)",
        "x.yaml:3:4: i: expected an integer, got a string ('x')",
        "x.yaml:4:4: n: expected a number, got a boolean (true)",
        "x.yaml:5:4: r: '(' is not a valid regular expression: missing ), unterminated subpattern at position 0",
        "x.yaml:6:4: m: expected a mapping, got a string ('str')",
        "x.yaml:7:4: l: expected a list, got a mapping",
        "x.yaml:8:4: k: must be at most 4, got 5",
    ]
    with pytest.raises(ConfigError) as info:
        src.check()
    assert len(info.value.problems) == 8 and info.value.details[0] == Problem("x.yaml", "expected a string, got a list", 1, 4, "s")


def test_top_level_must_be_a_mapping_and_keys_scalars(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "- a\n- b\n")
    assert str(info.value) == "x.yaml:1:1: expected a mapping of keys at the top level, got a list"
    src, top = load(tmp_path, "? [a, b]\n: 1\nc: 2\n")
    assert [str(p) for p in src.problems] == ["x.yaml:1:3: keys must be plain names, not lists or mappings"]


def test_missing_directory_and_undecodable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^nowhere.yaml: no such file$"):
        Source(tmp_path / "nowhere.yaml", "nowhere.yaml").load()
    with pytest.raises(ConfigError, match=r"is a directory"):
        Source(tmp_path).load()
    (tmp_path / "bin.yaml").write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^bin.yaml:1:4: invalid UTF-8 \(byte 0xff\)"):
        Source(tmp_path / "bin.yaml", "bin.yaml").load()


def test_problem_formatting_without_position():
    assert str(Problem("a.yaml", "file is empty")) == "a.yaml: file is empty"
    assert str(Problem("a.yaml", "m", 3, None, "k")) == "a.yaml:3: k: m"
    assert str(ConfigError(["plain line"])) == "plain line"


@pytest.mark.parametrize("text, seconds", [("0", 0), ("15", 15), ("15s", 15), ("15S", 15), ("2m", 120),
                                           ("1h", 3600), ("1D", 86400), ("1d 1h 1m 1s", 90061),
                                           ("7d 7d", 14 * 86400)])
def test_parse_expiration(text, seconds):
    assert parse_expiration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "d", "1.5h", "1h,2m", "-1"])
def test_parse_expiration_rejects(text):
    assert parse_expiration(text) is None


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("1.5h", 5400), ("2d", 172800), ("2.m", 120),
                                           ("1e-1s", 0.1)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "1 h", "h", "1w", "-1s"])
def test_parse_duration_rejects(text):
    assert parse_duration(text) is None


def test_config_imports_only_stdlib_yaml_and_itself():
    """DESIGN.md: the config room imports the standard library, yaml and gae_emu.config only."""
    import sys
    allowed = set(sys.stdlib_module_names) | {"yaml", "__future__"}
    for path in CONFIG_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert name.split(".")[0] in allowed or name.startswith("gae_emu.config"), (path.name, name)
