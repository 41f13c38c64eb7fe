"""Reading a YAML config file with positions, and the typed field checks app.yaml and queue.yaml share.

`Source.load()` parses a file into `YamlMap` / `YamlList` (dict / list subclasses that remember the
1-based line and column of every key and value, and the raw text of every scalar). `Value` and
`MapView` wrap a parsed value with its position and key path; their `as_*` methods check a type and
record a `Problem` on the `Source` instead of raising, so one pass reports every mistake in a file.
`Source.check()` raises the collected problems as one `ConfigError`.

`Source.load()` is total: whatever bytes a file holds, it returns a mapping or raises a located
`ConfigError` (size, UTF-8 and control characters are checked first, and nesting depth on PyYAML's
iterative scanner before its recursive parser runs), so every loader built on it inherits that.

Imports: the standard library, yaml, `gae_emu.config.errors`.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Collection, Dict, List, NamedTuple, NoReturn, Optional, Sequence

import yaml

from gae_emu.config.errors import ConfigError, Problem


class Mark(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class YamlMap(Dict[str, Any]):
    """A mapping whose keys are always the key's source text (YAML 1.1 would turn `on:` into True)."""

    mark: Mark
    key_marks: Dict[str, Mark]
    value_marks: Dict[str, Mark]
    raw: Dict[str, Optional[str]]  # scalar text as written, so `version: 1.10` stays "1.10"
    duplicates: List[tuple]  # (Mark, key) of repeated keys; reported by MapView.reject_unknown


class YamlList(List[Any]):
    mark: Mark
    item_marks: List[Mark]
    raw: List[Optional[str]]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and lists carry positions; duplicate keys are noted, not merged."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.bad_keys: List[Mark] = []

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's, with a constructor's stray exception (`!!timestamp 2001-01-011` raises
        AttributeError, `!!float` on a huge value OverflowError...) turned into a located error."""
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the file's mistake
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}", node.start_mark) from exc

    def construct_located_map(self, node: yaml.MappingNode) -> YamlMap:
        self.flatten_mapping(node)  # resolves `<<:` merge keys first, as SafeLoader does
        result = YamlMap()
        result.mark, result.key_marks, result.value_marks, result.raw = _mark(node), {}, {}, {}
        result.duplicates = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.bad_keys.append(_mark(key_node))
                continue
            key = key_node.value
            if key in result:
                result.duplicates.append((_mark(key_node), key))
                continue
            result[key] = self.construct_object(value_node, deep=True)
            result.key_marks[key] = _mark(key_node)
            result.value_marks[key] = _mark(value_node)
            result.raw[key] = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
        return result

    def construct_located_list(self, node: yaml.SequenceNode) -> YamlList:
        result = YamlList(self.construct_object(child, deep=True) for child in node.value)
        result.mark = _mark(node)
        result.item_marks = [_mark(child) for child in node.value]
        result.raw = [c.value if isinstance(c, yaml.ScalarNode) else None for c in node.value]
        return result


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_located_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_located_list)

# Config files are a few KiB; the limit keeps a mistaken path (a log, a dump) from being parsed.
MAX_FILE_BYTES = 1024 * 1024
# Collections nested deeper than this are refused before PyYAML's recursive parser sees them.
MAX_DEPTH = 64
# What YAML 1.1 forbids in a stream (PyYAML's Reader.NON_PRINTABLE), surrogates included.
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")
_OPENERS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
            yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _text_mark(text: str, index: int) -> Mark:
    line_start = text.rfind("\n", 0, index) + 1
    return Mark(text.count("\n", 0, index) + 1, index - line_start + 1)


def _byte_mark(raw: bytes, index: int) -> Mark:
    """Line and column (in characters) of a byte offset of a file that is UTF-8 up to there."""
    return _text_mark(raw[:index].decode("utf-8", "replace"), len(raw[:index].decode("utf-8", "replace")))


def _check_depth(scanner: yaml.SafeLoader) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the token stream (the scanner is iterative, the
    parser and constructor are recursive), reporting where the limit is crossed."""
    depth = 0
    try:
        while scanner.check_token():
            token = scanner.get_token()
            if isinstance(token, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    raise yaml.MarkedYAMLError(problem=f"nested too deeply (more than {MAX_DEPTH} levels)",
                                               problem_mark=token.start_mark)
            elif isinstance(token, _CLOSERS):
                depth -= 1
    finally:
        scanner.dispose()



def describe(value: Any) -> str:
    """How a wrong value is named in messages: `expected a string, got a list`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Source:
    """One config file being read: its display path (as the user gave it) and its problems."""

    def __init__(self, path: Path, display: Optional[str] = None,
                 problems: Optional[List[Problem]] = None) -> None:
        self.path = Path(path)
        self.display = display if display is not None else str(path)
        # Shared by an app.yaml and the files it includes, so all their mistakes come out together.
        self.problems: List[Problem] = problems if problems is not None else []

    def error(self, mark: Optional[Mark], key_path: str, message: str) -> None:
        line, column = (mark.line, mark.column) if mark else (None, None)
        self.problems.append(Problem(self.display, message, line, column, key_path))

    def location(self, mark: Optional[Mark]) -> str:
        return f"{self.display}:{mark.line}" if mark else self.display

    def check(self) -> None:
        """Raise every recorded problem: this file first, then included files, each in line order."""
        if self.problems:
            files = list(dict.fromkeys([self.display] + [p.path for p in self.problems]))
            raise ConfigError(sorted(self.problems, key=lambda p: (files.index(p.path), p.line or 0, p.column or 0)))

    def load(self) -> "MapView":
        """Parse the file; a missing, unreadable, oversized, undecodable, empty or malformed file
        raises ConfigError at once (with every problem recorded so far, as the problem list may be
        shared with other files). Nothing else escapes: whatever bytes the file holds, the result
        is a MapView or a located ConfigError."""
        data = self._parse(self._read_text())
        if data is None:
            self._fail(None, "file is empty")
        if not isinstance(data, YamlMap):
            self._fail(Mark(1, 1), f"expected a mapping of keys at the top level, got {describe(data)}")
        return MapView(self, data, "")

    def _read_text(self) -> str:
        try:
            with self.path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            self._fail(None, "no such file")
        except IsADirectoryError:
            self._fail(None, "is a directory, not a YAML file")
        except OSError as exc:
            self._fail(None, f"cannot read: {exc.strerror or exc}")
        if len(raw) > MAX_FILE_BYTES:
            self._fail(None, f"file is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a config file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._fail(_byte_mark(raw, exc.start), f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                       "config files must be UTF-8 text")
        bad = _NON_PRINTABLE.search(text)
        if bad:
            self._fail(_text_mark(text, bad.start()), f"control character U+{ord(bad.group()):04X} is not "
                       "allowed in YAML (only tab, newline and carriage return are)")
        return text.lstrip("\ufeff")

    def _parse(self, text: str) -> Any:
        loader = _Loader(text)
        try:
            _check_depth(_Loader(text))
            data = loader.get_single_data()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = Mark(mark.line + 1, mark.column + 1) if mark else None
            self._fail(where, f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}")
        except yaml.YAMLError as exc:  # not expected after the checks above; still one located line
            self._fail(None, f"YAML error: {exc}")
        except RecursionError:  # _check_depth bounds nesting, so only a pathological file gets here
            self._fail(None, f"nested too deeply (more than {MAX_DEPTH} levels)")
        finally:
            loader.dispose()
        for mark in loader.bad_keys:
            self.error(mark, "", "keys must be plain names, not lists or mappings")
        return data

    def _fail(self, mark: Optional[Mark], message: str) -> NoReturn:
        self.error(mark, "", message)
        raise ConfigError(self.problems)


def join_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class Value:
    """A parsed value with where it came from; `as_*` return None (and record a problem) if wrong."""

    def __init__(self, src: Source, value: Any, mark: Mark, path: str, raw: Optional[str]) -> None:
        self.src, self.value, self.mark, self.path, self.raw = src, value, mark, path, raw

    def error(self, message: str) -> None:
        self.src.error(self.mark, self.path, message)

    def as_str(self, *, choices: Sequence[str] = (), pattern: Optional[str] = None,
               pattern_desc: str = "") -> Optional[str]:
        value = self.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = self.raw if self.raw is not None else str(value)  # `version: 1` is the string "1"
        if not isinstance(value, str):
            self.error(f"expected a string, got {describe(self.value)}")
            return None
        if choices and value not in choices:
            self.error(f"{value!r} is not one of {', '.join(choices)}")
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.error(f"{value!r} is not {pattern_desc}" if pattern_desc else f"{value!r} does not match {pattern}")
            return None
        return value

    def as_bool(self) -> Optional[bool]:
        if isinstance(self.value, bool):
            return self.value
        text = str(self.value).lower() if isinstance(self.value, str) else None
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        self.error(f"expected true or false, got {describe(self.value)}")
        return None

    def as_int(self, *, minimum: Optional[int] = None, maximum: Optional[int] = None) -> Optional[int]:
        value = self.value
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"expected an integer, got {describe(self.value)}")
            return None
        return self._in_range(value, minimum, maximum)

    def as_number(self, *, minimum: Optional[float] = None) -> Optional[float]:
        value = self.value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(f"expected a number, got {describe(self.value)}")
            return None
        return self._in_range(float(value), minimum, None)

    def _in_range(self, value: Any, minimum: Any, maximum: Any) -> Any:
        if minimum is not None and value < minimum:
            self.error(f"must be at least {minimum}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.error(f"must be at most {maximum}, got {value}")
            return None
        return value

    def as_regex(self) -> Optional[str]:
        text = self.as_str()
        if text is None:
            return None
        try:
            re.compile(text)
        except re.error as exc:
            self.error(f"{text!r} is not a valid regular expression: {exc}")
            return None
        return text

    def as_expiration(self) -> Optional[int]:
        text = self.as_str()
        if text is None:
            return None
        seconds = parse_expiration(text)
        if seconds is None:
            self.error(f"{text!r} is not a duration like '4d 5h 30m 15s' (units d, h, m, s)")
        return seconds

    def as_duration(self) -> Optional[float]:
        text = self.as_str()
        if text is None:
            return None
        seconds = parse_duration(text)
        if seconds is None:
            self.error(f"{text!r} is not a duration like '2d' or '1.5h' (a number and one of s, m, h, d)")
        return seconds

    def as_map(self) -> Optional["MapView"]:
        if isinstance(self.value, YamlMap):
            return MapView(self.src, self.value, self.path)
        self.error(f"expected a mapping, got {describe(self.value)}")
        return None

    def as_list(self, *, allow_single: bool = False) -> List["Value"]:
        """The items of a list; with allow_single a lone scalar counts as a one-item list."""
        value = self.value
        if isinstance(value, YamlList):
            return [Value(self.src, item, mark, f"{self.path}[{i}]", raw)
                    for i, (item, mark, raw) in enumerate(zip(value, value.item_marks, value.raw))]
        if value is None:
            return []  # `handlers:` with nothing under it is an empty list, as App Engine reads it
        if allow_single and not isinstance(value, dict):
            return [self]
        self.error(f"expected a list, got {describe(value)}")
        return []


class MapView:
    """A YAML mapping being validated: typed access by key, unknown and missing key checks."""

    def __init__(self, src: Source, data: YamlMap, path: str) -> None:
        self.src, self.data, self.path = src, data, path

    @property
    def mark(self) -> Mark:
        return self.data.mark

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> List[str]:
        return list(self.data)

    def key_mark(self, key: str) -> Mark:
        return self.data.key_marks.get(key, self.data.mark)

    def get(self, key: str) -> Optional[Value]:
        if key not in self.data:
            return None
        return Value(self.src, self.data[key], self.data.value_marks[key],
                     join_path(self.path, key), self.data.raw.get(key))

    def reject_unknown(self, allowed: Collection[str], context: str = "") -> None:
        """Report keys not in `allowed`, and repeated keys (call once per mapping)."""
        for mark, key in self.data.duplicates:
            self.src.error(mark, join_path(self.path, key), "duplicate key (it is already set above)")
        for key in self.data:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(key, list(allowed), n=1)
            message = f"unknown key{' in ' + context if context else ''}"
            if hint:
                message += f"; did you mean {hint[0]!r}?"
            self.src.error(self.key_mark(key), join_path(self.path, key), message)

    def require(self, *keys: str) -> bool:
        missing = [key for key in keys if key not in self.data]
        for key in missing:
            self.src.error(self.mark, self.path or key, f"missing required key {key!r}")
        return not missing


_EXPIRATION_RE = re.compile(r"\s*(([0-9]+)([DdHhMm]|[sS]?))(\s+([0-9]+)([DdHhMm]|[sS]?))*\s*$")
_EXPIRATION_PART_RE = re.compile(r"([0-9]+)([DdHhMm]|[sS]?)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


def parse_expiration(text: str) -> Optional[int]:
    """App Engine's `expiration` (B1): `4d 5h 30m 15s`, `10` (seconds), `7d 7d` (summed)."""
    if not _EXPIRATION_RE.match(text):
        return None
    return sum(int(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _EXPIRATION_PART_RE.findall(text))


_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?(?:[eE]-?[0-9]+)?)([smhd])")


def parse_duration(text: str) -> Optional[float]:
    """queue.yaml's `task_age_limit` form (B6): a float and one unit, `1.5h`, `2d`."""
    match = _DURATION_RE.fullmatch(text.strip())
    if not match:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
