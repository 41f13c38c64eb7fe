"""The command line an instance runs: a service's `entrypoint:` as App Engine runs it, made local.

App Engine runs a python3 service by executing its `entrypoint` with `$PORT` set (the default is
`gunicorn -b :$PORT main:app`). Here the program comes from the app's own interpreter (a `.venv` or
`venv` in the service's folder, `--python`, else gae-emu's own), and binds that would listen on every
interface are pointed at 127.0.0.1 where the program's options are known (gunicorn, uvicorn), so the
app is only reachable through the front end. With no `entrypoint:` and no gunicorn installed, gae-emu
serves `main:app` with its own small threaded server (instance_server.py) and says so.

Imports: the standard library, `gae_emu.config.handlers` (the `module:attr` token rule).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from gae_emu.config.handlers import parse_entrypoint

DEFAULT_ENTRYPOINT = "gunicorn -b :$PORT main:app"
INSTANCE_SERVER = Path(__file__).with_name("instance_server.py")
VENV_FOLDERS = (".venv", "venv")
SHELL_TOKENS = ("&&", "||", "|", ";", ">", "<", "&")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_ANY_INTERFACE = ("", "0.0.0.0", "[::]", "::", "*")


class EntrypointError(Exception):
    """The entrypoint cannot be run here (a program that is not installed, nothing to serve)."""


@dataclass(frozen=True)
class InstanceCommand:
    """What to execute for one start of an instance."""

    argv: Tuple[str, ...]
    env: Dict[str, str] = field(default_factory=dict)  # assignments written before the program
    notes: Tuple[str, ...] = ()  # said once at start-up (a fallback server, an unchecked bind)


def interpreter_for(root: Path, python: Optional[str] = None) -> str:
    """The app's interpreter: `--python`, else a virtualenv in the service's folder, else ours."""
    if python:
        return python
    for folder in VENV_FOLDERS:
        for candidate in (root / folder / "bin" / "python", root / folder / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate)
    return sys.executable


def bin_dir(interpreter: str) -> str:
    """Where the interpreter's console scripts live (`gunicorn`, `uvicorn`)."""
    return os.path.dirname(os.path.abspath(interpreter))


def has_module(interpreter: str, module: str) -> bool:
    """Whether `interpreter` can run `-m module`, judged without starting it (start-up cost)."""
    if os.path.abspath(interpreter) == os.path.abspath(sys.executable):
        import importlib.util

        return importlib.util.find_spec(module) is not None
    return any(os.path.exists(os.path.join(bin_dir(interpreter), name)) for name in (module, module + ".exe"))


def build_command(entrypoint: Optional[str], interpreter: str, port: int, where: str = "entrypoint") -> InstanceCommand:
    """The argv for `entrypoint` (None: App Engine's default) listening on 127.0.0.1:`port`."""
    text = entrypoint if entrypoint and entrypoint.strip() else DEFAULT_ENTRYPOINT
    text = text.replace("${PORT}", str(port)).replace("$PORT", str(port))
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise EntrypointError(f"{where}: cannot split {text!r} into words: {exc}") from None
    if any(token in SHELL_TOKENS for token in tokens):
        return InstanceCommand(("/bin/sh", "-c", text), notes=(
            f"{where} is a shell command; gae-emu cannot check that it listens on 127.0.0.1 only",))
    env: Dict[str, str] = {}
    while tokens and _ASSIGNMENT.fullmatch(tokens[0]):
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    if not tokens:
        raise EntrypointError(f"{where}: {text!r} names no program to run")
    program, args = tokens[0], tokens[1:]
    if program == "gunicorn":
        if not has_module(interpreter, "gunicorn"):
            ref = parse_entrypoint(text)
            if ref is None:
                raise EntrypointError(f"{where}: gunicorn is not installed for {interpreter} (pip install gunicorn)")
            why = "no entrypoint is set and" if not entrypoint else f"{where} runs gunicorn, but"
            return InstanceCommand(
                (interpreter, str(INSTANCE_SERVER), "--port", str(port), str(ref)), env,
                (f"{why} gunicorn is not installed for {interpreter}; gae-emu serves {ref} with its own "
                 "threaded server",))
        return InstanceCommand((interpreter, "-m", "gunicorn", *_gunicorn_loopback(args, port)), env)
    if program == "uvicorn":
        if not has_module(interpreter, "uvicorn"):
            raise EntrypointError(f"{where}: uvicorn is not installed for {interpreter} (pip install uvicorn)")
        return InstanceCommand((interpreter, "-m", "uvicorn", *_uvicorn_loopback(args, port)), env)
    if _PYTHON.fullmatch(program):
        argv: Sequence[str] = (interpreter, *args)
    else:
        found = shutil.which(program, path=os.pathsep.join([bin_dir(interpreter), os.environ.get("PATH", "")]))
        if found is None:
            raise EntrypointError(f"{where}: program {program!r} is not installed (not in {bin_dir(interpreter)} "
                                  "nor on PATH)")
        argv = (found, *args)
    return InstanceCommand(tuple(argv), env, (
        f"{where}: gae-emu cannot check that {program!r} listens on 127.0.0.1 only; if it binds every "
        "interface, the app is reachable around the front end",))


def _gunicorn_loopback(args: List[str], port: int) -> List[str]:
    """gunicorn's binds pointed at 127.0.0.1 (`-b :8080`, `--bind=0.0.0.0:8080`); one added if none."""
    out: List[str] = []
    bound = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-b", "--bind") and i + 1 < len(args):
            out += [arg, _loopback_bind(args[i + 1], port)]
            bound, i = True, i + 2
            continue
        if arg.startswith("--bind="):
            out.append("--bind=" + _loopback_bind(arg[len("--bind="):], port))
            bound = True
        elif arg.startswith("-b") and len(arg) > 2:
            out.append("-b" + _loopback_bind(arg[2:], port))
            bound = True
        else:
            out.append(arg)
        i += 1
    return out if bound else ["-b", f"127.0.0.1:{port}", *out]


def _loopback_bind(bind: str, port: int) -> str:
    if bind.startswith(("unix:", "fd://")):
        return bind
    host, sep, rest = bind.rpartition(":")
    if not sep:
        host, rest = bind, str(port)
    return f"127.0.0.1:{rest}" if host in _ANY_INTERFACE else bind


def _uvicorn_loopback(args: List[str], port: int) -> List[str]:
    """uvicorn's `--host` pointed at 127.0.0.1 when it names every interface; `--port` added if missing."""
    out: List[str] = []
    has_port = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--host" and i + 1 < len(args):
            out += ["--host", "127.0.0.1" if args[i + 1] in _ANY_INTERFACE else args[i + 1]]
            i += 2
            continue
        if arg.startswith("--host="):
            value = arg[len("--host="):]
            out.append("--host=" + ("127.0.0.1" if value in _ANY_INTERFACE else value))
        else:
            has_port = has_port or arg == "--port" or arg.startswith("--port=")
            out.append(arg)
        i += 1
    return out if has_port else [*out, "--port", str(port)]
