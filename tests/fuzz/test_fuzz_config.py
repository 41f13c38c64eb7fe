"""Fuzz the config loaders: whatever bytes app.yaml or queue.yaml hold (damaged real files, documents
built from the real keys with values of every YAML type, raw bytes), loading gives a config or a
ConfigError whose every line is `file[:line[:col]]: ...`, never another exception.

A loader of a further file joins by adding to LOADERS."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest
import yaml
from hypothesis import given, strategies as st

from gae_emu.config import appkeys
from gae_emu.config.appyaml import load_app_yaml
from gae_emu.config.errors import ConfigError
from gae_emu.config import cronyaml, dispatchyaml, indexyaml
from gae_emu.config.queueyaml import QUEUE_KEYS, RETRY_KEYS, TOP_KEYS, load_queue_yaml

REPO = Path(__file__).resolve().parents[2]


def _app(root: Path) -> object:
    return load_app_yaml(root / "app.yaml", check_imports=False)


CRON = b"""cron:
- description: daily summary
  url: /tasks/summary
  schedule: every 24 hours
  target: worker
  timezone: Europe/Paris
  retry_parameters:
    job_retry_limit: 2
    min_backoff_seconds: 2.5
- url: /tasks/ping
  schedule: every monday 09:00
"""
DISPATCH = b"""dispatch:
- url: "*/worker/*"
  service: worker
- url: "example.localhost/"
  service: default
"""
INDEX = b"""indexes:
- kind: Greeting
  ancestor: yes
  properties:
  - name: author
  - name: date
    direction: desc
"""


def _file_loader(name: str, load: Callable) -> Callable:
    return lambda root: load(root / name)


# file name -> (loader taking the app folder, example files (paths or bytes) to damage, keys to build documents from)
LOADERS: Dict[str, tuple] = {
    "cron.yaml": (_file_loader("cron.yaml", cronyaml.load_cron_yaml), [CRON],
                  list(cronyaml.TOP_KEYS) + list(cronyaml.JOB_KEYS) + list(cronyaml.RETRY_KEYS)),
    "dispatch.yaml": (_file_loader("dispatch.yaml", dispatchyaml.load_dispatch_yaml), [DISPATCH],
                      list(dispatchyaml.TOP_KEYS) + list(dispatchyaml.RULE_KEYS)),
    "index.yaml": (_file_loader("index.yaml", indexyaml.load_index_yaml), [INDEX],
                   list(indexyaml.TOP_KEYS) + list(indexyaml.INDEX_KEYS) + list(indexyaml.PROPERTY_KEYS)),
    "app.yaml": (_app, [REPO / "sample_app" / "app.yaml", REPO / "sample_app_std" / "app.yaml"],
                 sorted(appkeys.APP_KEYS) + ["url", "script", "static_dir", "static_files", "upload", "login",
                                             "secure", "expiration", "http_headers", "mime_type"]),
    "queue.yaml": (load_queue_yaml, [REPO / "sample_app" / "queue.yaml"],
                   list(TOP_KEYS) + list(QUEUE_KEYS) + list(RETRY_KEYS)),
}

SNIPPETS = [b"[", b"{", b"- ", b": ", b"!!binary ", b"!!timestamp 2001-01-011", b"1e400", b".nan", b"~", b"&a ",
            b"*a", b"<<: ", b"\x01", b"\xff", b"\xed\xa0\x80", b"!!python/none", b"!!set {a}", b"? [a]\n",
            b'"\\ud800"', b"\t", b"\r", b"\xef\xbb\xbf", b"%YAML 1.1\n---\n", b"...\n", b"\n  ", b"'", b'"']

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["/.*", "main.app", "5/s", "1d 2h", "python27", "python311", "admin",
                                     "2001-12-14", "0x1F", "1_000", "yes", "off", "-1", "1e400"]))


def documents(keys) -> st.SearchStrategy:
    names = st.one_of(st.sampled_from(keys), st.text(max_size=6))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(names, inner, max_size=4)),
                          max_leaves=16)
    return st.dictionaries(names, values, max_size=8).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True).encode("utf-8", "surrogatepass"))


@st.composite
def damaged(draw, seeds) -> bytes:
    raw = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["byte", "snippet", "cut"]))
        if op == "byte" and raw:
            raw[min(at, len(raw) - 1)] = draw(st.integers(0, 255))
        elif op == "snippet":
            raw[at:at] = draw(st.sampled_from(SNIPPETS))
        else:
            del raw[at:at + draw(st.integers(1, 20))]
    return bytes(raw)


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gae-emu-fuzz-") as name:
        (Path(name) / "static").mkdir()  # so the sample app.yaml, undamaged, loads
        yield Path(name)


@pytest.fixture(autouse=True)
def quiet_config_warnings() -> Iterator[None]:
    """Loaders log warnings for odd but valid values; thousands of them only slow the run."""
    logger = logging.getLogger("gae_emu.config")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_any_bytes_give_a_config_or_located_problems(folder, name, counted):
    loader, seeds, keys = LOADERS[name]
    seed_bytes = [p if isinstance(p, bytes) else p.read_bytes() for p in seeds]
    inputs = st.one_of(damaged(seed_bytes), documents(keys), st.binary(max_size=200))

    @given(inputs)
    def check(data: bytes) -> None:
        counted()
        (folder / name).write_bytes(data)
        try:
            loader(folder)
        except ConfigError as exc:
            assert exc.problems, "a ConfigError names at least one problem"
            for line in exc.problems:
                assert line.startswith(str(folder / name)), line
                assert "\x1b" not in line and line.isprintable(), repr(line)

    check()
