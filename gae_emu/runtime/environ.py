"""The WSGI environ App Engine gives a request: what it strips from outside requests and what it adds.

External requests lose every `X-AppEngine-*` and `X-Google-*` header (production's rule, B3) unless
a logged-in administrator sent them; dev_appserver's `X-AppEngine-Fake-*` headers never grant or reach
anything. Requests the emulator makes itself (tasks, cron) carry `INTERNAL_KEY`, an environ key no
HTTP client can produce (werkzeug only creates `HTTP_*` keys from headers), which the login check
treats as admin.

Imports: the standard library, `gae_emu.config.models`, `gae_emu.services.users`.
"""
from __future__ import annotations

import io
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple
from urllib.parse import unquote_to_bytes

from gae_emu.config.models import AppConfig
from gae_emu.services.users import COOKIE_NAME, DEFAULT_AUTH_DOMAIN, User, user_from_cookie

SERVER_SOFTWARE = "Development/2.0"
INTERNAL_KEY = "gae_emu.internal"  # True on requests the emulator itself makes (task queue, cron)
WARMUP_KEY = "gae_emu.warmup"  # the warmup request, sent to an instance before it counts as ready
USER_KEY = "gae_emu.user"  # the logged-in User (or None), worked out once per request
ALWAYS_DROPPED = ("HTTP_X_APPENGINE_FAKE_IS_ADMIN", "HTTP_X_APPENGINE_FAKE_LOGGED_IN")
PROCESS_START = time.strftime("%Y%m%dt%H%M%S", time.gmtime())


@dataclass(frozen=True)
class ServiceIdentity:
    """What the environ says about the service serving a request."""

    app: AppConfig
    hostname: str  # this service's host:port
    default_hostname: str  # the default service's host:port (DEFAULT_VERSION_HOSTNAME)
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    deployment_id: str = field(default_factory=lambda: str(int(time.time() * 1000)))

    @property
    def fixed_environ(self) -> Dict[str, str]:
        """The part of `app_environ` that is the same for every request, worked out once."""
        cached = self.__dict__.get("_fixed_environ")
        if cached is None:
            app = self.app
            cached = dict(app.env_variables)
            cached.update(
                SERVER_SOFTWARE=SERVER_SOFTWARE,
                APPLICATION_ID=app.app_id,
                CURRENT_VERSION_ID=f"{app.version}.{self.deployment_id}",
                CURRENT_MODULE_ID=app.service,
                DEFAULT_VERSION_HOSTNAME=self.default_hostname,
                INSTANCE_ID=self.instance_id,
                AUTH_DOMAIN=DEFAULT_AUTH_DOMAIN,
                HTTP_X_APPENGINE_COUNTRY="ZZ",
                HTTP_X_APPENGINE_DEFAULT_VERSION_HOSTNAME=self.default_hostname,
                HTTP_X_APPENGINE_AUTH_DOMAIN=DEFAULT_AUTH_DOMAIN,
            )
            if app.is_python3:
                cached.update(gae_process_env(self))
            object.__setattr__(self, "_fixed_environ", cached)  # frozen: set once, like a cache
        return cached


def request_user(environ: dict) -> Optional[User]:
    """The user named by the login cookie, cached in the environ."""
    if USER_KEY not in environ:
        from http.cookies import SimpleCookie  # local: only needed when a request has cookies

        value = None
        raw = environ.get("HTTP_COOKIE")
        if raw:
            cookie = SimpleCookie()
            try:
                cookie.load(raw)
            except Exception:  # a malformed Cookie header means "no login", not a 500
                cookie = SimpleCookie()
            if COOKIE_NAME in cookie:
                value = cookie[COOKIE_NAME].value
        environ[USER_KEY] = user_from_cookie(value)
    return environ[USER_KEY]


def is_internal(environ: dict) -> bool:
    return environ.get(INTERNAL_KEY) is True


def strip_untrusted_headers(environ: dict) -> None:
    """Drop App Engine headers an outside client may not set (in place)."""
    for key in ALWAYS_DROPPED:
        environ.pop(key, None)
    if is_internal(environ):
        return
    user = request_user(environ)
    if user is not None and user.is_admin:
        return
    for key in [k for k in environ if k.startswith(("HTTP_X_APPENGINE_", "HTTP_X_GOOGLE_"))]:
        del environ[key]


def app_environ(environ: dict, service: ServiceIdentity, request_id: str) -> dict:
    """Add the variables and headers App Engine sets for every request to `environ` (in place)."""
    user = request_user(environ)
    environ.update(service.fixed_environ)
    is_admin = "1" if user and user.is_admin else "0"
    environ.update(
        REQUEST_LOG_ID=request_id,
        REQUEST_ID_HASH=request_id[:8].upper(),
        USER_EMAIL=user.email if user else "",
        USER_ID=user.user_id if user else "",
        USER_NICKNAME=user.nickname if user else "",
        USER_ORGANIZATION=user.organization if user else "",
        USER_IS_ADMIN=is_admin,
        HTTP_X_APPENGINE_REQUEST_LOG_ID=request_id,
        HTTP_X_APPENGINE_DEV_REQUEST_ID=request_id,
        # appengine-python-standard sends this (preferred over the dev id) as its API ticket; set it
        # too, so a header an administrator's client sent cannot stand in for the request's ticket.
        HTTP_X_APPENGINE_API_TICKET=request_id,
        HTTP_X_APPENGINE_USER_IS_ADMIN=is_admin,
    )
    if user:
        environ.update(
            HTTP_X_APPENGINE_USER_EMAIL=user.email,
            HTTP_X_APPENGINE_USER_ID=user.user_id,
            HTTP_X_APPENGINE_USER_NICKNAME=user.nickname,
            HTTP_X_APPENGINE_USER_ORGANIZATION=user.organization,
        )
    return environ


def gae_process_env(service: ServiceIdentity) -> Dict[str, str]:
    """The GAE_* variables a python3 runtime sees (B1 `get_modern_env_vars`)."""
    app = service.app
    return {
        "GAE_ENV": "localdev",
        "GAE_APPLICATION": app.app_id,
        "GAE_SERVICE": app.service,
        "GAE_VERSION": app.version or PROCESS_START,
        "GAE_INSTANCE": service.instance_id,
        "GAE_RUNTIME": app.runtime,
        "GAE_MEMORY_MB": "256",
        "GOOGLE_CLOUD_PROJECT": app.application,
    }


def cloud_datastore_env(project: str, address: str) -> Dict[str, str]:
    """What points google-cloud-datastore and Cloud NDB at the Datastore API at `address`
    (host:port), as `gcloud beta emulators datastore env-init` prints it: no credentials needed,
    and DATASTORE_DATASET is how Cloud NDB finds its project."""
    return {
        "DATASTORE_EMULATOR_HOST": address,
        "DATASTORE_EMULATOR_HOST_PATH": address + "/datastore",
        "DATASTORE_HOST": "http://" + address,
        "DATASTORE_PROJECT_ID": project,
        "DATASTORE_DATASET": project,
    }


def instance_process_env(service: ServiceIdentity, interpreter_bin: str, extra: Dict[str, str],
                         api: Optional[Tuple[str, int]] = None, datastore: Optional[str] = None) -> Dict[str, str]:
    """The environment of a python3 instance, complete before its first import: the user's shell
    environment (PATH, HOME, locale), what App Engine sets (GAE_*, GOOGLE_CLOUD_PROJECT), where the
    Cloud Datastore API is (`datastore`, host:port), the service's own `env_variables`, then
    `--env-var` (`extra`), and where the API server is. `PORT` is set per start."""
    app = service.app
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAE_")}
    env.pop("APPENGINE_USE_CLOUDTASK_PUSH_QUEUE", None)  # it would send task calls to real Cloud Tasks
    env["PATH"] = interpreter_bin + os.pathsep + env.get("PATH", "")
    env.update(gae_process_env(service))
    if datastore is not None:
        env.update(cloud_datastore_env(app.application, datastore))
        if app.app_engine_apis:
            # appengine-python-standard's bundled datastore would switch itself to Cloud Datastore
            # mode (and ask for DATASTORE_APP_ID) on seeing it; the Python Cloud clients read
            # DATASTORE_DATASET instead, so a service using both APIs loses nothing.
            del env["DATASTORE_PROJECT_ID"]
    env.update(APPLICATION_ID=app.app_id, SERVER_SOFTWARE=SERVER_SOFTWARE,
               DEFAULT_VERSION_HOSTNAME=service.default_hostname, PYTHONUNBUFFERED="1")
    env.update(dict(app.env_variables))
    env.update(extra)
    if api is not None:
        env["API_HOST"], env["API_PORT"] = api[0], str(api[1])
    return env


class _RandomBytes:
    """Bytes from the OS's CSPRNG, read 4 KiB at a time: request ids double as API tickets, so they
    must not be guessable, and one getrandom call per request (tasks are requests) adds up."""

    def __init__(self, chunk: int = 4096) -> None:
        self._lock = threading.Lock()
        self._chunk = chunk
        self._buffer = b""
        self._pos = 0
        if hasattr(os, "register_at_fork"):  # a forked child must not replay the parent's bytes
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._buffer, self._pos = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._pos + n > len(self._buffer):
                self._buffer, self._pos = os.urandom(max(n, self._chunk)), 0
            chunk = self._buffer[self._pos:self._pos + n]
            self._pos += n
        return chunk


_random_bytes = _RandomBytes()


def new_request_id() -> str:
    return _random_bytes.take(20).hex()


_CGI_NAMES: Dict[str, str] = {}  # header name as sent -> environ key; tasks repeat a few names


def _cgi_name(header: str) -> str:
    name = header.upper().replace("-", "_")
    if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        name = "HTTP_" + name
    if len(_CGI_NAMES) < 1024:
        _CGI_NAMES[header] = name
    return name


def internal_environ(method: str, url: str, headers: Iterable[Tuple[str, str]], body: bytes, host: str,
                     remote_addr: str) -> dict:
    """The WSGI environ of a request the emulator makes itself (a task, cron): no socket, and
    marked with INTERNAL_KEY, which the login check treats as admin."""
    path, _, query = url.partition("?")
    name, _, port = host.partition(":")
    environ = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": name,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        INTERNAL_KEY: True,
    }
    for key, value in headers:
        cgi_name = _CGI_NAMES.get(key) or _cgi_name(key)
        if cgi_name == "CONTENT_LENGTH":
            continue
        environ[cgi_name] = f"{environ[cgi_name]},{value}" if cgi_name in environ else value
    environ["HTTP_HOST"] = host
    return environ
