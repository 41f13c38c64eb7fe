"""How the emulator wires the API server: only for python3 apps, off (with a log line) without
Google's library, on a loopback port of its own; `--api-port` on the command line."""
from __future__ import annotations

import logging
from pathlib import Path

from click.testing import CliRunner

import gae_emu.apiserver as apiserver
from gae_emu.cli import main
from gae_emu.config.appyaml import load_app_yaml
from gae_emu.emulator import Emulator, EmulatorOptions

ROOT = Path(__file__).resolve().parents[2]


def test_without_the_library_a_python3_app_starts_with_the_api_server_off(monkeypatch, caplog):
    monkeypatch.setattr(apiserver, "library_available", lambda: False)
    app = load_app_yaml(ROOT / "sample_app_std" / "app.yaml", check_imports=False)
    emulator = Emulator([app], EmulatorOptions(port=0, admin_port=None))
    with caplog.at_level(logging.INFO, logger="gae_emu"):
        assert emulator._bind_api_server() is None
    assert "API server is off: appengine-python-standard is not installed" in caplog.text


def test_python27_apps_get_no_api_server():
    app = load_app_yaml(ROOT / "sample_app" / "app.yaml", check_imports=False)
    assert Emulator([app], EmulatorOptions(port=0, admin_port=None))._bind_api_server() is None


def test_dev_has_an_api_port_option():
    result = CliRunner().invoke(main, ["dev", "--help"])
    assert result.exit_code == 0 and "--api-port" in result.output
