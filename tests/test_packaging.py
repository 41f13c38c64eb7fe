"""The built wheel carries the built-in handlers and the emulator's own app.yaml."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_handlers_and_builtin_app_yaml(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("gae_emu-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gae_emu/handlers/app.yaml" in names
    for handler in ("__init__.py", "login.py", "deferred.py"):
        assert f"gae_emu/handlers/{handler}" in names
    assert "gae_emu/cli.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "gae-emu = gae_emu.cli:main" in text
    assert "gae_emu = gae_emu.testing" in text
    assert not any(n.startswith("tests/") or n.startswith("sample_app/") for n in names)
