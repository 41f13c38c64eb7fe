"""Fixtures for the config tests: write yaml files into a temporary app, collect the error lines."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, List

import pytest

from gae_emu.config.appyaml import load_app_yaml
from gae_emu.config.errors import ConfigError

PY27_HEAD = "runtime: python27\napi_version: 1\nthreadsafe: true\n"


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty app directory `app/`; the cwd is its parent so messages use the relative `app/...`."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "app"
    root.mkdir()
    (root / "main.py").write_text("def app(environ, start_response):\n    return [b'ok']\n")
    return root


@pytest.fixture
def write(app_dir: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = app_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path
    return write


@pytest.fixture
def app_errors(app_dir: Path, write: Callable[[str, str], Path]) -> Callable[[str], List[str]]:
    """Write app/app.yaml and return the problem lines loading it gives (fails if it loads)."""
    def app_errors(text: str) -> List[str]:
        write("app.yaml", text)
        with pytest.raises(ConfigError) as info:
            load_app_yaml("app")
        return info.value.problems
    return app_errors
