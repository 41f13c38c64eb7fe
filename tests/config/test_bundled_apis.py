"""`gae-emu check` (and `dev`) warn when a python3 app imports the bundled APIs without
`app_engine_apis: true`, which App Engine requires."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MAIN = "import json\n\nfrom google.appengine.api import memcache\n\napp = lambda environ, start_response: []\n"


def make_app(root: Path, apis: bool) -> Path:
    root.mkdir()
    (root / "app.yaml").write_text("runtime: python312\n" + ("app_engine_apis: true\n" if apis else ""))
    (root / "main.py").write_text(MAIN)
    return root


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gae_emu", "check", str(root)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("apis", [False, True])
def test_check_warns_without_app_engine_apis(tmp_path, apis):
    root = make_app(tmp_path / "app", apis)
    result = check(root)
    assert result.returncode == 0, result.stderr
    warning = (f"gae-emu: warning: {root / 'main.py'}:3: imports App Engine's bundled APIs, but "
               f"{root / 'app.yaml'} lacks `app_engine_apis: true`")
    assert (warning in result.stderr) is not apis, result.stderr
