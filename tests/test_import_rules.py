"""DESIGN.md's direction of imports, checked on the source so a violation fails the suite."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "gae_emu"
HTTP_MODULES = ("werkzeug", "http", "urllib.request", "wsgiref", "socket")


def imports_of(path: Path) -> Iterator[Tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def sources(*parts: str) -> list:
    base = PACKAGE.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


def _violations(files, forbidden) -> list:
    found = []
    for path in files:
        for line, name in imports_of(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.name}:{line}: imports {name}")
    return found


def test_services_and_storage_import_nothing_http():
    files = sources("services") + sources("storage.py")
    assert _violations(files, HTTP_MODULES + ("gae_emu.runtime", "gae_emu.api", "gae_emu.ext", "gae_emu.apiserver")) == []


def test_config_imports_no_runtime_or_services():
    assert _violations(sources("config"), ("gae_emu.runtime", "gae_emu.services", "werkzeug")) == []


def test_nothing_in_the_package_imports_handlers_or_cli():
    files = [p for p in sources() if p.name != "cli.py" and p.name != "__main__.py"]
    assert _violations(files, ("gae_emu.handlers", "handlers", "gae_emu.cli")) == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import werkzeug.wrappers\nfrom gae_emu.cli import main\n")
    assert _violations([bad], HTTP_MODULES + ("gae_emu.cli",)) == [
        "bad.py:1: imports werkzeug.wrappers",
        "bad.py:2: imports gae_emu.cli",
    ]


def test_runtime_sits_below_the_composition_root():
    """runtime/ (front end, instances) never imports the API server, the Cloud front doors or the
    emulator that wires them; the composition root (gae_emu/emulator.py) imports them all."""
    forbidden = ("gae_emu.apiserver", "gae_emu.cloud", "gae_emu.emulator", "gae_emu.testing")
    assert _violations(sources("runtime"), forbidden) == []


def test_the_instance_server_runs_outside_the_package():
    """instance_server.py runs in the app's interpreter, where gae_emu may not be installed."""
    imported = [name for _, name in imports_of(PACKAGE / "runtime" / "instance_server.py")]
    assert imported and not [n for n in imported if n.startswith(("gae_emu", "werkzeug", "click", "yaml"))]


def test_cloud_front_doors_sit_beside_the_api_server():
    """cloud/ translates wire messages to services/ calls: it never reaches into the API server,
    the front end, the classic API or the composition root."""
    forbidden = ("gae_emu.apiserver", "gae_emu.api", "gae_emu.ext", "gae_emu.emulator", "gae_emu.testing")
    assert _violations(sources("cloud"), forbidden) == []
    shared = ("gae_emu.runtime.hosts", "gae_emu.runtime.server")  # the listening helpers, as apiserver/ uses them
    runtime = [v for v in _violations(sources("cloud"), ("gae_emu.runtime",)) if not v.endswith(shared)]
    assert runtime == []


def test_services_know_nothing_of_the_cloud_front_doors():
    assert _violations(sources("services") + sources("storage.py"), ("gae_emu.cloud", "grpc", "google")) == []
