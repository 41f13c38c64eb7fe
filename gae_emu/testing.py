"""Testing against the emulator: a pytest plugin, a context manager for other runners, and an
in-process services handle (App Engine's testbed idea) for unit tests of code that uses the APIs.

- `emulator(app_dir, ...)` starts the real `gae-emu dev` in a subprocess on free loopback ports with
  a temporary storage folder, waits until it serves, yields an `EmulatorHandle`, and stops it.
- The pytest fixture `gae_emu` does the same for the app named by `@pytest.mark.gae_emu_app(path)`
  (relative to the test file's folder, else the rootdir); `gae_emu_shared` keeps one emulator per
  app for the session and resets it before each test.
- `services(...)` installs in-process services over a temporary database, with `run_tasks()` to
  execute queued tasks deterministically on the caller's thread.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.storage`, `gae_emu.services`, `gae_emu.config`.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from gae_emu.testclient import Headers, HttpClient, HttpResponse, LoginError  # noqa: F401 (the handle's client)

BANNER = re.compile(r"^gae-emu: (?:service (?P<service>\S+)|(?P<admin>admin console)) at (?P<url>http://\S+)$")
EXPORT = re.compile(r"^gae-emu: export (?P<name>[A-Z0-9_]+)=(?P<value>\S+)$")
STARTUP_TIMEOUT = 30.0


class EmulatorError(RuntimeError):
    """The emulator did not start, or a control call failed."""


class StuckTasksError(AssertionError):
    """`wait_until_idle` timed out; the message lists the tasks still queued or running."""


@dataclass(frozen=True)
class CronJobInfo:
    """One cron job as `EmulatorHandle.cron_jobs()` returns it; times are aware datetimes in the
    job's time zone (None: never ran / never runs again)."""

    url: str
    schedule: str
    description: Optional[str]
    target: Optional[str]
    timezone: str
    next_run: Optional[datetime.datetime]
    last_run: Optional[datetime.datetime]
    last_status: Optional[int]

    @classmethod
    def from_api(cls, item: Dict[str, Any]) -> "CronJobInfo":
        def moment(text: Optional[str]) -> Optional[datetime.datetime]:
            return datetime.datetime.fromisoformat(text) if text else None

        return cls(url=item["url"], schedule=item["schedule"], description=item["description"],
                   target=item["target"], timezone=item["timezone"], next_run=moment(item["next_run"]),
                   last_run=moment(item["last_run"]), last_status=item["last_status"])


@dataclass(frozen=True)
class DeferredCall:
    """What a `deferred.defer` task will call, read from its pickle without unpickling it: the
    callable's dotted name and its arguments as Python-like text (`args`, `kwargs`)."""

    callable: Optional[str]
    args: List[str]
    kwargs: Dict[str, str]
    error: Optional[str] = None  # why the payload could not be read

    def __str__(self) -> str:
        parts = list(self.args) + [f"{k}={v}" for k, v in self.kwargs.items()]
        return f"{self.callable}({', '.join(parts)})"


@dataclass(frozen=True)
class TaskInfo:
    """One queued task as `EmulatorHandle.tasks()` returns it. `eta` is an aware UTC datetime,
    `payload` the body bytes, `headers` the task's own headers (any case), `deferred` the decoded
    call of a deferred task (else None). `task["name"]` still works: the old dict form."""

    name: str
    queue: str
    url: str
    method: str
    eta: datetime.datetime
    retry_count: int
    execution_count: int
    last_response: Optional[int]
    payload: bytes
    headers: Headers
    target: Optional[str]
    tag: Optional[str]
    in_flight: bool
    deferred: Optional[DeferredCall]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_api(cls, item: Dict[str, Any]) -> "TaskInfo":
        import base64

        deferred = item.get("deferred")
        payload = base64.b64decode(item["payload_base64"]) if "payload_base64" in item else (
            (item.get("payload_preview") or "").encode("utf-8"))
        return cls(name=item["name"], queue=item["queue"], url=item["url"], method=item["method"],
                   eta=datetime.datetime.fromtimestamp(item["eta"], datetime.timezone.utc),
                   retry_count=item["retry_count"], execution_count=item["execution_count"],
                   last_response=item["last_response"], payload=payload,
                   headers=Headers([(k, v) for k, v in item["headers"]]), target=item.get("target"),
                   tag=item.get("tag"), in_flight=bool(item.get("in_flight")),
                   deferred=DeferredCall(deferred["callable"], list(deferred["args"]), dict(deferred["kwargs"]),
                                         deferred.get("error")) if deferred else None,
                   raw=item)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass(frozen=True)
class SentMail:
    """One message the app sent (`EmulatorHandle.sent_mail()`); `to`, `cc`, `bcc` are lists,
    `attachments` (filename, bytes) pairs, `headers` the extra headers as (name, value) pairs."""

    sender: str
    to: List[str]
    cc: List[str]
    bcc: List[str]
    reply_to: str
    subject: str
    body: str
    html: str
    attachments: List[tuple]
    headers: List[tuple]
    to_admins: bool = False
    sent_at: float = 0.0

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "SentMail":
        import base64

        return cls(sender=data["sender"], to=list(data["to"]), cc=list(data["cc"]), bcc=list(data["bcc"]),
                   reply_to=data["reply_to"], subject=data["subject"], body=data["body"], html=data["html"],
                   attachments=[(a["filename"], base64.b64decode(a["data_base64"])) for a in data["attachments"]],
                   headers=[tuple(h) for h in data["headers"]], to_admins=data["to_admins"], sent_at=data["sent_at"])


@dataclass
class EmulatorHandle:
    """A running `gae-emu dev`: its URLs, an HTTP client, and task-queue control."""

    process: subprocess.Popen
    urls: Dict[str, str]
    admin_url: Optional[str]
    storage_path: Path
    output: List[str] = field(default_factory=list)
    # What the banner says to export, e.g. CLOUD_TASKS_EMULATOR_HOST (Google's client libraries read them).
    exports: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = HttpClient(self.url)
        self._admin = HttpClient(self.admin_url) if self.admin_url else None

    def __repr__(self) -> str:  # short: pytest prints it in every failure of a test that uses it
        services = " ".join(f"{name}={url}" for name, url in self.urls.items())
        return f"<EmulatorHandle pid {self.process.pid} {services} admin={self.admin_url}>"

    @property
    def url(self) -> str:
        return self.urls.get("default") or next(iter(self.urls.values()))

    def service_url(self, service: str) -> str:
        return self.urls[service]

    # -- task-queue control through the admin JSON API ---------------------------------------------

    def _api(self, method: str, path: str, data: Optional[Dict[str, Any]] = None) -> Any:
        if self._admin is None:
            raise EmulatorError("the emulator was started without an admin port")
        resp = self._admin.request(method, "/api" + path, data=json.dumps(data or {}) if method == "POST" else None,
                                   headers={"Content-Type": "application/json", "X-Requested-With": "gae-emu-testing"})
        if resp.status >= 400:
            raise EmulatorError(f"{method} {path}: {resp.status} {resp.text[:500]}")
        return resp.json() if resp.body else None

    def queues(self) -> List[Dict[str, Any]]:
        return self._api("GET", "/queues")["queues"]

    def tasks(self, queue: str = "default") -> List[TaskInfo]:
        """The queue's tasks, soonest first, with their payloads and decoded deferred calls."""
        items = self._api("GET", f"/queues/{urllib.parse.quote(queue)}/tasks?payload=1")["tasks"]
        return [TaskInfo.from_api(item) for item in items]

    def run_task(self, queue: str, name: str) -> Dict[str, Any]:
        """Run one task now, on the caller's time, whatever its eta; returns its outcome."""
        return self._api("POST", f"/queues/{urllib.parse.quote(queue)}/tasks/{urllib.parse.quote(name)}/run")

    def delete_task(self, queue: str, name: str) -> None:
        self._api("POST", f"/queues/{urllib.parse.quote(queue)}/tasks/{urllib.parse.quote(name)}/delete")

    def purge(self, queue: str = "default") -> None:
        self._api("POST", f"/queues/{urllib.parse.quote(queue)}/purge")

    def run_all(self, timeout: float = 30.0) -> None:
        """Run every task that is due (also with --no-enable-task-running) until none is left."""
        result = self._api("POST", "/run-due", {"timeout": timeout})
        if not result.get("idle"):
            raise StuckTasksError(_stuck_message(result, timeout))

    def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Return when no task is due, in flight or waiting for a retry; raise StuckTasksError
        listing them otherwise (a task that keeps failing is stuck). Tasks whose countdown has not
        come yet do not count."""
        result = self._api("POST", "/wait-idle", {"timeout": timeout})
        if not result.get("idle"):
            raise StuckTasksError(_stuck_message(result, timeout))

    # -- cron --------------------------------------------------------------------------------------

    def cron_jobs(self) -> List["CronJobInfo"]:
        """cron.yaml's jobs as the emulator runs them: schedule, next run, last run and status."""
        return [CronJobInfo.from_api(item) for item in self._api("GET", "/cron")["jobs"]]

    def run_cron(self, url: str) -> int:
        """Run the cron job with this url now (as the scheduler would: GET, `X-AppEngine-Cron: true`,
        admin access); returns the HTTP status its handler answered (0: no answer)."""
        return int(self._api("POST", "/cron/run", {"url": url})["status"])

    def advance_cron_clock(self, seconds: float) -> datetime.datetime:
        """Move the cron scheduler's clock forward, so a test need not wait for a job to come due;
        returns the scheduler's new time."""
        return datetime.datetime.fromisoformat(self._api("POST", "/cron/advance", {"seconds": seconds})["now"])

    def reset(self) -> None:
        """Empty the datastore, the queues, the tombstones, memcache, the sent mail and the blobs,
        and sign the client out: a shared emulator starts each test as a fresh one would."""
        self._api("POST", "/reset")
        self.client.cookies.clear()

    # -- mail ------------------------------------------------------------------------------------------

    def sent_mail(self) -> List[SentMail]:
        """Every message the app has sent (Send and SendToAdmins), oldest first."""
        return [SentMail.from_json(m) for m in self._api("GET", "/mail")["messages"]]

    def clear_mail(self) -> None:
        self._api("POST", "/mail/clear")

    def deliver_mail(self, to: str, raw_message: Union[bytes, str]) -> int:
        """POST an RFC 822 message to the app's `/_ah/mail/<to>` as App Engine does (needs
        `inbound_services: [mail]`); returns the app's HTTP status."""
        return self._api("POST", "/mail/deliver", {"to": to, **_raw_field(raw_message)})["status"]

    def deliver_bounce(self, raw_message: Union[bytes, str], notification: Optional[Dict[str, str]] = None) -> int:
        """POST a bounce notification for `raw_message` to the app's `/_ah/bounce` (needs
        `inbound_services: [mail_bounce]`); `notification` overrides the notification-* fields
        (from, to, subject, text). Returns the app's HTTP status."""
        return self._api("POST", "/mail/bounce", {**_raw_field(raw_message), "notification": notification or {}})["status"]

    def stop(self) -> None:
        stop_process(self.process)


def _raw_field(raw_message: Union[bytes, str]) -> Dict[str, str]:
    """A raw message for the JSON API: text as it is, bytes (any 8-bit content) in base64."""
    if isinstance(raw_message, str):
        return {"message": raw_message}
    import base64

    return {"message_base64": base64.b64encode(raw_message).decode("ascii")}


def _stuck_message(result: Dict[str, Any], timeout: float) -> str:
    lines = [f"tasks still due or running after {timeout}s:"]
    for task in result.get("stuck", []):
        line = (f"  {task.get('queue')}/{task.get('name')} url={task.get('url')} retries={task.get('retry_count')} "
                f"last={task.get('last_response')}")
        call = task.get("deferred")
        if call and call.get("callable"):
            line += f" call={DeferredCall(call['callable'], call.get('args', []), call.get('kwargs', {}))}"
        lines.append(line)
    lines.append("(a failing task's traceback is in the emulator's output: the plugin adds it to a failed "
                 "test's report)")
    return "\n".join(lines)


def wait_for(check: Any, timeout: float = 10.0, what: str = "condition", interval: float = 0.05) -> Any:
    """Poll `check()` until it returns something truthy and return that; after `timeout` seconds
    fail with an AssertionError naming `what` and the last value (for effects tasks leave)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _command() -> List[str]:
    return [sys.executable, "-m", "gae_emu", "dev"]


@contextmanager
def emulator(*apps: Union[str, Path], args: Sequence[str] = (), storage_path: Optional[Union[str, Path]] = None,
             env: Optional[Dict[str, str]] = None, admin: bool = True) -> Iterator[EmulatorHandle]:
    """Run `gae-emu dev APPS...` on free loopback ports until the block ends."""
    tmp = None
    if storage_path is None:
        tmp = tempfile.mkdtemp(prefix="gae-emu-test-")
        storage_path = tmp
    command = _command() + [str(a) for a in apps] + [
        "--no-reload", "--host", "127.0.0.1", "--port", "0", "--tasks-port", "0", "--storage-path", str(storage_path),
    ] + (["--admin-port", "0"] if admin else ["--no-admin"]) + list(args)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    handle = None
    try:
        handle = _wait_for_banner(process, Path(storage_path))
        yield handle
    finally:
        stop_process(process)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_banner(process: subprocess.Popen, storage_path: Path) -> EmulatorHandle:
    urls: Dict[str, str] = {}
    exports: Dict[str, str] = {}
    admin_url: Optional[str] = None
    output: List[str] = []
    ready = threading.Event()

    def pump() -> None:
        nonlocal admin_url
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            output.append(line)
            if os.environ.get("GAE_EMU_TEST_ECHO"):
                print(line, file=sys.stderr)
            match = BANNER.match(line)
            if match:
                if match.group("admin"):
                    admin_url = match.group("url")
                else:
                    urls[match.group("service")] = match.group("url")
            export = EXPORT.match(line)
            if export:
                exports[export.group("name")] = export.group("value")
            if line.startswith("gae-emu: storage in"):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True, name="gae-emu-output").start()
    if not ready.wait(STARTUP_TIMEOUT) or not urls:
        stop_process(process)
        raise EmulatorError("gae-emu dev did not start:\n" + "\n".join(output[-40:]))
    return EmulatorHandle(process=process, urls=urls, admin_url=admin_url, storage_path=storage_path, output=output,
                          exports=exports)


class RecordingServer:
    """A local HTTP server that records every request (method, path, lower-cased headers, body,
    arrival time) and answers the statuses queued in `codes[path]`, then 200: an HTTP target for
    tests of Cloud Tasks HTTP-target tasks. Use it as a context manager (it binds 127.0.0.1)."""

    def __init__(self) -> None:
        import http.server

        recorder = self
        self.requests: List[Dict[str, Any]] = []
        self.codes: Dict[str, List[int]] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorder.requests.append({"method": self.command, "path": self.path, "at": time.time(),
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": self.rfile.read(length)})
                codes = recorder.codes.get(self.path.split("?")[0], [])
                self.send_response(codes.pop(0) if codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="gae-emu-recorder").start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def seen(self, path: str) -> List[Dict[str, Any]]:
        """The requests to `path` (without its query), oldest first."""
        return [r for r in self.requests if r["path"].split("?")[0] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "RecordingServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- in-process services (App Engine's testbed idea) ------------------------------------------------


@dataclass
class Testbed:
    """Services installed in this process over a temporary database."""

    services: Any  # gae_emu.apiproxy.Services

    @property
    def taskqueue(self) -> Any:
        return self.services.taskqueue

    @property
    def datastore(self) -> Any:
        return self.services.datastore

    def run_tasks(self, app: Any = None, now: Optional[float] = None, max_rounds: int = 100) -> int:
        """Run due push tasks on this thread until none is due; returns how many ran.

        Tasks go to the WSGI `app` when given; without one, deferred tasks run through the built-in
        deferred handler and any other task counts as a 404 (and is retried later)."""
        from gae_emu import apiproxy
        from gae_emu.ext import deferred

        target = app or _deferred_only(deferred.application)
        total = 0
        for _ in range(max_rounds):
            ran = self.taskqueue.run_due(now if now is not None else time.time(), lambda task: _call_wsgi(target, task, apiproxy))
            total += ran
            if not ran:
                break
        return total


def _deferred_only(deferred_app: Any) -> Any:
    def app(environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/_ah/queue/deferred":
            return deferred_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no handler"]

    return app


def _call_wsgi(app: Any, task: Any, apiproxy: Any) -> int:
    """Deliver one task to a WSGI app the way the dev server does, minus the router."""
    from gae_emu.runtime.delivery import TASK_SOURCE_IP, TaskDelivery
    from gae_emu.runtime.environ import SERVER_SOFTWARE, internal_environ
    from gae_emu.runtime.router import call_buffered
    from gae_emu.services.taskqueue.models import default_url

    environ = internal_environ(task.method, task.url or default_url(task.queue), TaskDelivery.headers_for(task),
                               task.payload, "localhost:8080", TASK_SOURCE_IP)
    environ["SERVER_SOFTWARE"] = SERVER_SOFTWARE
    with apiproxy.serving(environ):
        status, _, _ = call_buffered(app, environ)
    return int(status.split(" ", 1)[0])


@contextmanager
def services(app_root: Optional[Union[str, Path]] = None, app_id: str = "dev~testbed",
             storage_path: Optional[Union[str, Path]] = None, max_task_size: int = 100 * 1024) -> Iterator[Testbed]:
    """Install task queue and datastore services over a temporary database for the block.

    `app_root` is a folder whose queue.yaml (if any) defines the queues; without it only `default`
    exists."""
    from gae_emu import apiproxy
    from gae_emu.config.models import QueueConfig
    from gae_emu.config.queueyaml import QueueConfigWatcher
    from gae_emu.services.blobstore import BlobstoreService
    from gae_emu.services.datastore import DatastoreService
    from gae_emu.services.memcache import MemcacheService
    from gae_emu.services.mail import MailService
    from gae_emu.services.taskqueue import TaskQueueService
    from gae_emu.storage import Storage

    tmp = None
    if storage_path is None:
        tmp = tempfile.mkdtemp(prefix="gae-emu-testbed-")
        storage_path = tmp
    storage = Storage.in_directory(storage_path)
    queue_config = QueueConfigWatcher(Path(app_root)).current if app_root else (lambda: QueueConfig())
    datastore = DatastoreService(storage)
    handle = apiproxy.Services(
        app_id=app_id,
        storage=storage,
        taskqueue=TaskQueueService(storage, queue_config, known_targets=lambda: ("default",), max_task_size=max_task_size),
        datastore=datastore,
        memcache=MemcacheService(),
        mail=MailService(storage),
        blobstore=BlobstoreService(storage, datastore, app_id),
        hostnames={"default": "localhost:8080"},
    )
    apiproxy.install(handle)
    try:
        yield Testbed(handle)
    finally:
        apiproxy.uninstall(handle)
        storage.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class EmulatorPool:
    """Emulators shared by a test session, one per (apps, args): `get` starts one the first time
    and resets it every later time; `close` stops them all."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._running: Dict[tuple, EmulatorHandle] = {}

    def get(self, apps: Sequence[str], args: Sequence[str] = ()) -> EmulatorHandle:
        key = (tuple(apps), tuple(args))
        handle = self._running.get(key)
        if handle is not None and handle.process.poll() is None:
            handle.reset()
            return handle
        handle = self._stack.enter_context(emulator(*apps, args=args))
        self._running[key] = handle
        return handle

    def close(self) -> None:
        self._running.clear()
        self._stack.close()


# -- the pytest plugin -----------------------------------------------------------------------------


def resolve_app_path(app: Union[str, Path], test_dir: Path, rootdir: Path) -> Path:
    """An app path of `@pytest.mark.gae_emu_app`: absolute as given, else relative to the test
    file's folder, else to pytest's rootdir (the one that exists, in that order)."""
    path = Path(app)
    if path.is_absolute():
        return path
    for base in (test_dir, rootdir):
        if (base / path).exists():
            return (base / path).resolve()
    raise FileNotFoundError(f"gae_emu_app({str(app)!r}): no such app beside the test ({test_dir / path}) "
                            f"nor in the rootdir ({rootdir / path})")


try:
    import pytest
except ImportError:  # pragma: no cover - the context managers work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def pytest_configure(config: Any) -> None:
        config.addinivalue_line(
            "markers",
            "gae_emu_app(*apps, args=()): the app folder(s) the `gae_emu` fixture serves, and extra "
            "`gae-emu dev` arguments",
        )

    def _marked_apps(request: Any, fixture: str = "gae_emu") -> tuple:
        """The marker's apps, resolved, and its `args`: the key of one emulator."""
        marker = request.node.get_closest_marker("gae_emu_app")
        if marker is None or not marker.args:
            raise pytest.UsageError(f"the {fixture} fixture needs @pytest.mark.gae_emu_app('path/to/app')")
        test_dir = Path(str(request.node.path)).parent
        try:
            apps = tuple(str(resolve_app_path(a, test_dir, Path(str(request.config.rootpath)))) for a in marker.args)
        except FileNotFoundError as exc:
            pytest.fail(str(exc), pytrace=False)
        return apps, tuple(str(a) for a in marker.kwargs.get("args", ()))

    REPORT_LINES = 200  # the emulator's output a failed test's report shows at most

    def _capture(request: Any, handle: EmulatorHandle) -> EmulatorHandle:
        """Remember where the emulator's output stood as this test began (for its report)."""
        request.node._gae_emu_output = (handle, len(handle.output))
        return handle

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
        """A failed test that used the emulator shows what it printed meanwhile (the app's
        tracebacks, the task lines), as pytest shows a test's captured stdout."""
        outcome = yield
        report = outcome.get_result()
        captured = getattr(item, "_gae_emu_output", None)
        if captured is None or not report.failed:
            return
        handle, start = captured
        lines = list(handle.output)[start:]
        if len(lines) > REPORT_LINES:
            lines = [f"({len(lines) - REPORT_LINES} earlier lines left out)"] + lines[-REPORT_LINES:]
        if lines:
            report.sections.append((f"gae-emu output ({call.when})", "\n".join(lines)))

    @pytest.fixture
    def gae_emu(request: Any) -> Iterator[EmulatorHandle]:
        """A running `gae-emu dev` for the app named by @pytest.mark.gae_emu_app(...), started for
        this test and stopped after it."""
        apps, args = _marked_apps(request)
        with emulator(*apps, args=args) as handle:
            yield _capture(request, handle)

    @pytest.fixture(scope="session")
    def _gae_emu_pool() -> Iterator[EmulatorPool]:
        pool = EmulatorPool()
        try:
            yield pool
        finally:
            pool.close()

    @pytest.fixture
    def gae_emu_shared(request: Any, _gae_emu_pool: EmulatorPool) -> EmulatorHandle:
        """Like `gae_emu`, but one emulator per app (and args) for the whole session, `reset()`
        before each test: empty datastore, queues, memcache and mail, signed out. For fast suites
        whose tests need no fresh process (the cron clock and the app's own globals carry over)."""
        apps, args = _marked_apps(request, "gae_emu_shared")
        return _capture(request, _gae_emu_pool.get(apps, args))

    @pytest.fixture
    def gae_services(tmp_path: Path) -> Iterator[Testbed]:
        """In-process task queue and datastore services over a temporary database."""
        with services(storage_path=tmp_path / "storage") as testbed:
            yield testbed
