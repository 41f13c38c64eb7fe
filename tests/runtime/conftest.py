"""Fixtures that build a ServiceRouter for an app written into tmp_path."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Dict

import pytest
from werkzeug.test import Client

from gae_emu.config.appyaml import load_app_yaml, load_builtin_app_yaml
from gae_emu.runtime.builtin import builtin_app_yaml
from gae_emu.runtime.environ import ServiceIdentity
from gae_emu.runtime.frontend import Frontend
from gae_emu.runtime.loader import ScriptLoader
from gae_emu.runtime.router import ServiceRouter

ECHO_APP = '''
import json, os

def app(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    if environ["PATH_INFO"] == "/bad-status":
        start_response("OK", [])
        return [b"no status code"]
    start_response("200 OK", [("Content-Type", "application/json")])
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    return [json.dumps(seen).encode()]
'''


def write_app(root: Path, app_yaml: str, files: Dict[str, str] = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(textwrap.dedent(app_yaml))
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def make_router(tmp_path: Path) -> Callable[..., ServiceRouter]:
    counter = iter(range(1000))

    def make(app_yaml: str, files: Dict[str, str] = None) -> ServiceRouter:
        # A fresh module name per app so tests never share an imported `main` module.
        n = next(counter)
        module = f"echo_app_{n}_{tmp_path.name.replace('-', '_')}"
        files = dict(files or {})
        files.setdefault(f"{module}.py", ECHO_APP)
        root = write_app(tmp_path / f"app{n}", app_yaml.replace("main.app", f"{module}.app"), files)
        app = load_app_yaml(root)
        identity = ServiceIdentity(app=app, hostname="localhost:8080", default_hostname="localhost:8080")
        return ServiceRouter(identity, load_builtin_app_yaml(builtin_app_yaml()), ScriptLoader(app.root))

    return make


@pytest.fixture
def client_for() -> Callable[[ServiceRouter], Client]:
    """A werkzeug test client through the front door (host check included) of a router."""

    def make(router: ServiceRouter) -> Client:
        frontend = Frontend({router.app.service: router}, router.app.service)
        return Client(frontend.app_for_port(router.app.service))

    return make
