"""One running emulator: the composition root that wires the services, the front doors (the router
per service, the API server), the instances of python3 services, the ports and the task dispatcher.

`cli.py` builds an `Emulator` from validated configs and plain options; nothing here reads argv.
Ports: the default service listens on `port`, each further service on the next port (B10), the admin
console on `admin_port`; 0 picks a free port. Python3 services run in instance processes
(`runtime/instances.py`) started from their entrypoints with the environment App Engine gives them;
classic `script: package.module.attr` services (gae-emu's own API) run in this process.

It sits above `runtime/` and `apiserver/` (it imports both; neither imports it).

Imports: the standard library, `gae_emu.*` except `cli` and `handlers`.
"""
from __future__ import annotations

import getpass
import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from gae_emu import apiproxy
from gae_emu.config.appfiles import ConfigFile, load_extra
from gae_emu.config.appyaml import load_builtin_app_yaml
from gae_emu.config.dispatchyaml import check_services
from gae_emu.config.models import AppConfig, DEFAULT_SERVICE, ScriptRef
from gae_emu.config.queueyaml import QueueConfigWatcher
from gae_emu.config.watch import FileWatcher
from gae_emu.runtime.builtin import builtin_app_yaml
from gae_emu.runtime.delivery import TaskDelivery
from gae_emu.runtime.entrypoint import bin_dir, build_command, interpreter_for
from gae_emu.runtime.environ import (
    INTERNAL_KEY, SERVER_SOFTWARE, WARMUP_KEY, ServiceIdentity, instance_process_env, internal_environ,
)
from gae_emu.runtime.dispatch import DispatchRules
from gae_emu.runtime.indexfile import append_index
from gae_emu.runtime.frontend import Frontend
from gae_emu.runtime.hosts import local_hosts_only
from gae_emu.runtime.instances import Instance
from gae_emu.runtime.loader import ScriptLoader, ScriptLoadError
from gae_emu.runtime.reloader import SourceWatcher
from gae_emu.runtime.requestlog import RequestLog
from gae_emu.runtime.router import ServiceRouter
from gae_emu.runtime.server import ServerSet, listen
from gae_emu.runtime.shellaccess import SHELL_PATH, ShellAccess, shell_ticket_environ
from gae_emu.runtime.tickets import LiveRequests
from gae_emu.services.blobstore import BlobstoreService
from gae_emu.services.cron.service import CronRunner, CronService
from gae_emu.services.datastore import DatastoreService
from gae_emu.services.datastore.indexpolicy import IndexPolicy
from gae_emu.services.memcache import MemcacheService
from gae_emu.services.mail import MailService
from gae_emu.services.mail_relay import SmtpRelay
from gae_emu.services.taskqueue import Dispatcher, TaskQueueService
from gae_emu.storage import Storage

if TYPE_CHECKING:  # the API server and the Cloud APIs are imported only when a python3 app needs them
    from gae_emu.apiserver import ApiServer
    from gae_emu.cloud.datastore.server import DatastoreServer
    from gae_emu.cloud.tasks import CloudTasksServer

log = logging.getLogger("gae_emu")

ADMIN_APP = ScriptRef("gae_emu.handlers.admin", "application", builtin=True)


@dataclass
class EmulatorOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: Optional[int] = 8000  # None: no admin server
    storage_path: Optional[Path] = None
    clear_datastore: bool = False
    enable_task_running: bool = True
    enforce_queue_rates: bool = False
    max_task_size: int = 100 * 1024
    tombstone_ttl: float = 9 * 86400
    task_deadline: float = 600.0
    task_workers: int = 16  # a worker busy for over a second is replaced, so hung handlers never hold them all
    allowed_hosts: Tuple[str, ...] = ()
    env_vars: Dict[str, str] = field(default_factory=dict)
    api_port: int = 0  # the API server for appengine-python-standard apps (loopback only); 0 = free port
    smtp_host: Optional[str] = None  # relay sent mail there (None: mail only stored and logged)
    smtp_port: int = 25
    smtp_user: Optional[str] = None
    smtp_password: Optional[str] = None
    python: Optional[str] = None  # interpreter of python3 instances; None: the service's .venv/venv, else ours
    reload_instances: bool = False  # restart a python3 service's instance when a .py file under it changes
    datastore_port: int = 0  # the Cloud Datastore API for google-cloud-* apps (loopback only); 0 = free port
    # cron, dispatch, index, queue -> the file (named on the command line or beside app.yaml)
    config_files: Dict[str, "ConfigFile"] = field(default_factory=dict)
    enable_cron: bool = True  # run cron.yaml's jobs on their schedule
    require_indexes: bool = False  # a query lacking its index.yaml index fails, as in production
    tasks_port: Optional[int] = 0  # the Cloud Tasks gRPC API (CLOUD_TASKS_EMULATOR_HOST); None: off; 0: free port
    tasks_location: str = "us-central1"


def default_storage_path(application: str, root: Path) -> Path:
    """A folder under the system temp dir per app *checkout*: like dev_appserver's
    `appengine.<app>.<user>`, plus a short hash of the app folder's absolute path, so two checkouts
    of one app keep their own data and can run side by side."""
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    digest = hashlib.sha256(str(Path(root).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"gae-emu.{application}.{user}.{digest}")
    return Path(tempfile.gettempdir()) / safe


def storage_path_for(apps: Sequence[AppConfig], given: Optional[Path] = None) -> Path:
    """The storage folder of `gae-emu dev APPS`: `given`, else the default service's default (what
    `gae-emu shell APPS` looks in to find the running emulator)."""
    if given:
        return Path(given)
    default = order_services(apps)[0]
    return default_storage_path(default.application, default.root)


def order_services(apps: Sequence[AppConfig]) -> List[AppConfig]:
    """The service named `default` first, else the first one given becomes `default`."""
    apps = list(apps)
    for i, app in enumerate(apps):
        if app.service == DEFAULT_SERVICE:
            return [app] + apps[:i] + apps[i + 1 :]
    return apps


class Emulator:
    def __init__(self, apps: Sequence[AppConfig], options: Optional[EmulatorOptions] = None) -> None:
        if not apps:
            raise ValueError("at least one app.yaml is needed")
        self.options = options or EmulatorOptions()
        self.apps = order_services(apps)
        self.default_app = self.apps[0]
        self.default_service = self.default_app.service
        self.storage_path = storage_path_for(self.apps, self.options.storage_path)
        self.servers = ServerSet()
        self.request_log = RequestLog()
        self.routers: Dict[str, ServiceRouter] = {}
        self.services: Optional[apiproxy.Services] = None
        self.dispatcher: Optional[Dispatcher] = None
        self.tickets = LiveRequests()  # API tickets of the requests being served (issue 7)
        self.api_server: Optional["ApiServer"] = None
        self.datastore_server: Optional["DatastoreServer"] = None
        self.cron_runner: Optional[CronRunner] = None
        self.cloud_tasks: Optional["CloudTasksServer"] = None
        self._app_engine_delivery: Optional[Callable[[Any], int]] = None  # App Engine targets' delivery, once built
        self._keys_server: Optional[ServerSet] = None  # the public keys of Cloud Tasks' OIDC tokens
        self.instances: Dict[str, Instance] = {}
        self.shell: Optional[ShellAccess] = None  # what `gae-emu shell` connects with
        self._watcher: Optional[SourceWatcher] = None
        self.check_entrypoints()

    def check_entrypoints(self) -> None:
        """EntrypointError (one line, naming the program) for an entrypoint that cannot run here."""
        for app in self.apps:
            if app.is_python3:
                build_command(app.entrypoint, interpreter_for(app.root, self.options.python), 0,
                              where=f"{app.path}: entrypoint")

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every port (PortInUseError before anything runs), then serve and dispatch."""
        self.dispatch = DispatchRules(self._config_watcher("dispatch").current)
        frontend = Frontend(self.routers, self.default_service, self.options.allowed_hosts, self.dispatch.route)
        port = self.options.port
        for i, app in enumerate(self.apps):
            self.servers.bind(app.service, self.options.host, port + i if port else 0, frontend.app_for_port(app.service))
        hostnames = {lst.name: f"localhost:{lst.port}" for lst in self.servers.listeners}
        if self.options.admin_port is not None:
            admin = self.servers.bind("admin", self.options.host, self.options.admin_port,
                                      local_hosts_only(self._admin_app, self.options.allowed_hosts))
            admin.server.request_log_level = logging.DEBUG  # console clicks are not the app's story
        self.services = self._build_services(hostnames)
        self.api_server = self._bind_api_server()  # before the env: API_PORT must be known
        self.datastore_server = self._bind_datastore_server()  # and DATASTORE_EMULATOR_HOST
        self.cloud_tasks = self._bind_cloud_tasks(hostnames)  # likewise CLOUD_TASKS_EMULATOR_HOST
        self._apply_process_env(hostnames)
        builtin = load_builtin_app_yaml(builtin_app_yaml())
        for app in self.apps:
            identity = ServiceIdentity(app=app, hostname=hostnames[app.service], default_hostname=hostnames[self.default_service])
            router = ServiceRouter(identity, builtin, ScriptLoader(app.root), [self.request_log.record], tickets=self.tickets)
            if app.is_python3:
                router.instance = self.instances[app.service] = self._instance(app, identity, router)
            self.routers[app.service] = router
        apiproxy.install(self.services)
        delivery = self._app_engine_delivery = TaskDelivery(self.routers, self.default_service, hostnames,
                                                            self.dispatch.route)
        # With the Cloud Tasks API, HTTP-target tasks exist too: it sends those itself.
        execute = self.cloud_tasks.execute if self.cloud_tasks is not None else delivery
        self.dispatcher = Dispatcher(
            self.services.taskqueue, execute, max_workers=self.options.task_workers, deadline=self.options.task_deadline,
            stall_after=1.0,
        )
        self.dispatcher.paused = not self.options.enable_task_running
        self.services.settings["dispatcher"] = self.dispatcher
        self.services.datastore.index_policy = self._index_policy().check
        self.services.settings["cron"] = cron = CronService(self._config_watcher("cron").current)
        self.services.settings["cron_execute"] = delivery.cron
        if self.options.enable_cron:
            self.cron_runner = CronRunner(cron, delivery.cron)
        self.services.settings["emulator"] = self
        if self.api_server is not None:
            self.api_server.start()
        if self.datastore_server is not None:
            self.datastore_server.start()
        if self.cloud_tasks is not None:
            self.cloud_tasks.start()
        if self._keys_server is not None:
            self._keys_server.start()
        for instance in self.instances.values():
            instance.start()
        self._preload_classic_scripts()  # before the dispatcher: queued tasks may name their modules
        self.servers.start()
        self.dispatcher.start()
        if self.cron_runner is not None:
            self.cron_runner.start()
        self._open_shell_access(hostnames)
        if self.options.reload_instances and self.instances:
            self._watcher = SourceWatcher(self._restart_changed)
            self._watcher.start({name: self.routers[name].app.root for name in self.instances})

    def stop(self) -> None:
        if self.shell is not None:
            self.shell.remove()
        if self.cron_runner is not None:
            self.cron_runner.stop()
        if self._watcher is not None:
            self._watcher.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        # Each of these waits on its own (a server's loop, an instance's graceful exit): side by
        # side, stopping takes as long as the slowest, not the sum (a test's teardown).
        parts = [self.servers, *self.instances.values(), self.api_server, self.datastore_server, self.cloud_tasks,
                 self._keys_server]
        stoppers = [threading.Thread(target=part.stop, name="stop", daemon=True) for part in parts if part is not None]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        if self.services is not None:
            apiproxy.uninstall(self.services)
            self.services.storage.close()

    # -- wiring -----------------------------------------------------------------------------------

    def _build_services(self, hostnames: Dict[str, str]) -> apiproxy.Services:
        storage = Storage.in_directory(self.storage_path, clear=self.options.clear_datastore)
        queue_file = self.options.config_files.get("queue")
        queues = QueueConfigWatcher(queue_file.path.parent if queue_file else self.default_app.root)
        taskqueue = TaskQueueService(
            storage,
            queues.current,
            known_targets=lambda: tuple(hostnames),
            max_task_size=self.options.max_task_size,
            tombstone_ttl=self.options.tombstone_ttl,
            enforce_rates=self.options.enforce_queue_rates,
        )
        datastore = DatastoreService(storage)
        return apiproxy.Services(
            app_id=self.default_app.app_id,
            storage=storage,
            taskqueue=taskqueue,
            datastore=datastore,
            memcache=MemcacheService(),
            mail=MailService(storage, self._smtp_relay()),
            blobstore=BlobstoreService(storage, datastore, self.default_app.app_id),
            hostnames=hostnames,
            default_service=self.default_service,
        )

    def _smtp_relay(self) -> Optional[SmtpRelay]:
        opts = self.options
        if not opts.smtp_host:
            return None
        log.info("sent mail is relayed to %s:%d", opts.smtp_host, opts.smtp_port)
        return SmtpRelay(opts.smtp_host, opts.smtp_port, opts.smtp_user, opts.smtp_password)

    def _index_policy(self) -> IndexPolicy:
        """index.yaml: a query lacking its composite index fails with --require-indexes, else the
        index is appended to the file's autogenerated section."""
        watcher = self._config_watcher("index")
        path = self._config_file("index").path
        return IndexPolicy(lambda: watcher.current().indexes, require=self.options.require_indexes,
                           record=lambda index: append_index(path, index))

    def _config_file(self, kind: str) -> ConfigFile:
        return self.options.config_files.get(kind) or \
            ConfigFile(self.default_app.root / f"{kind}.yaml", f"{kind}.yaml")

    def _config_watcher(self, kind: str) -> FileWatcher:
        """cron.yaml, dispatch.yaml or index.yaml, re-read when it changes: the one named on the
        command line, else the one beside the default app.yaml (which may appear later)."""
        file = self._config_file(kind)
        services = [app.service for app in self.apps]

        def load():
            config = load_extra(kind, file)
            if kind == "dispatch":  # an edit naming a service not served is refused like a typo
                check_services(config, services)
            return config

        return FileWatcher(file.display, [file.path], load)

    def _apply_process_env(self, hostnames: Dict[str, str]) -> None:
        """Classic services run in this process and read os.environ; where two classic services
        disagree, the default service's variables win (docs/differences.md). Python3 services get
        their own environment in their instance (`instance_env`), and nothing of theirs is put here."""
        classic = [app for app in self.apps if not app.is_python3]
        for app in reversed(classic):
            os.environ.update(dict(app.env_variables))
        if classic:
            os.environ.update(self.options.env_vars)
        os.environ.setdefault("APPLICATION_ID", self.default_app.app_id)
        os.environ["SERVER_SOFTWARE"] = SERVER_SOFTWARE
        os.environ["DEFAULT_VERSION_HOSTNAME"] = hostnames[self.default_service]
        os.environ.update(self.exports())

    def _instance(self, app: AppConfig, identity: ServiceIdentity, router: ServiceRouter) -> Instance:
        interpreter = interpreter_for(app.root, self.options.python)
        api = (self.api_server.host, self.api_server.port) if self.api_server is not None else None
        datastore = self.datastore_server.address if self.datastore_server is not None else None
        warmup = None
        if "warmup" in app.inbound_services:
            def warmup(instance: Instance) -> None:
                """App Engine sends `GET /_ah/warmup` to a new instance before any other request."""
                environ = internal_environ("GET", "/_ah/warmup", [], b"", identity.hostname, "0.1.0.3")
                environ[WARMUP_KEY] = True
                status = router.handle(environ).status_code
                log.info("service %s: /_ah/warmup answered %s", app.service, status)

        return Instance(
            app.service, app.root,
            lambda port: build_command(app.entrypoint, interpreter, port, where=f"{app.path}: entrypoint"),
            instance_process_env(identity, bin_dir(interpreter), {**self.exports(), **self.options.env_vars}, api,
                                 datastore), warmup=warmup,
            request_timeout=self.options.task_deadline,
        )

    def _open_shell_access(self, hostnames: Dict[str, str]) -> None:
        """Let `gae-emu shell` in: a ticket per service for the API server, a key for the admin
        port's call endpoint, and the file in the storage folder that tells the shell both."""
        assert self.services is not None
        self.shell = ShellAccess(self.services, self.storage_path)
        for app in self.apps:
            self.tickets.pin(self.shell.ticket_for(app.service), shell_ticket_environ(app.service, hostnames[app.service]))
        urls = self.urls
        self.shell.write({
            "app_id": self.default_app.app_id, "default_service": self.default_service, "hostnames": hostnames,
            "admin_url": urls.get("admin"), "python": self.options.python, "env_vars": self.options.env_vars,
            "exports": self.exports(),
            "api": [self.api_server.host, self.api_server.port] if self.api_server is not None else None,
            "datastore": self.datastore_server.address if self.datastore_server is not None else None,
        })

    def _restart_changed(self, service: str) -> None:
        log.info("service %s: a source file changed; restarting its instance", service)
        self.instances[service].restart()

    # -- the API server for appengine-python-standard apps (issue 7) --------------------------------

    def _bind_api_server(self) -> Optional["ApiServer"]:
        """Bind `/rpc_http` when a service is python3 and Google's library is installed (an app
        importing it could not run otherwise); None, with a log line, when it is not needed."""
        if not any(app.is_python3 for app in self.apps):
            return None
        from gae_emu.apiserver import ApiServer, library_available

        if not library_available():
            log.info("API server is off: appengine-python-standard is not installed (pip install 'gae-emu[google]')")
            return None
        assert self.services is not None
        server = ApiServer(self.services, self.tickets.get, port=self.options.api_port,
                           versions={app.service: app.version for app in self.apps})
        log.info("API server for appengine-python-standard at %s", server.url)
        return server

    def _bind_datastore_server(self) -> Optional["DatastoreServer"]:
        """Bind the Cloud Datastore v1 API (issue 18) when a service is python3 and the `[cloud]`
        extra is installed: Cloud NDB and google-cloud-datastore reach the same datastore through it."""
        if not any(app.is_python3 for app in self.apps):
            return None
        from gae_emu.cloud.datastore import available

        if not available():
            log.info("Cloud Datastore API is off: google-cloud-datastore and grpcio are not installed "
                     "(pip install 'gae-emu[cloud]')")
            return None
        from gae_emu.cloud.datastore.server import DatastoreServer

        assert self.services is not None
        sock = listen("127.0.0.1", self.options.datastore_port, "the Cloud Datastore API")  # loopback only
        server = DatastoreServer(self.services.datastore, sock, self.options.allowed_hosts)
        log.info("Cloud Datastore API for google-cloud-ndb/google-cloud-datastore at %s", server.address)
        return server

    # -- the Cloud Tasks API (issue 19) -------------------------------------------------------------

    def _bind_cloud_tasks(self, hostnames: Dict[str, str]) -> Optional["CloudTasksServer"]:
        """Bind the Cloud Tasks gRPC API when google-cloud-tasks is installed (the [cloud] extra)."""
        if self.options.tasks_port is None:
            return None
        from gae_emu.cloud.tasks import CloudTasksServer, library_available

        if not library_available():
            log.info("Cloud Tasks API is off: google-cloud-tasks is not installed (pip install 'gae-emu[cloud]')")
            return None
        assert self.services is not None
        from gae_emu.cloud.grpcserver import GrpcPortInUseError
        from gae_emu.runtime.server import PortInUseError

        try:
            server = CloudTasksServer(self.services.taskqueue, self.default_app.application, self._deliver_app_engine,
                                      location=self.options.tasks_location, host=self.options.host,
                                      port=self.options.tasks_port, hostnames=hostnames,
                                      deadline=self.options.task_deadline)
        except GrpcPortInUseError as exc:
            raise PortInUseError(f"{exc}; choose another with --tasks-port") from None
        self._keys_server = ServerSet()
        self._keys_server.bind("cloud-tasks-keys", self.options.host, 0,
                               local_hosts_only(server.keys_app, self.options.allowed_hosts))
        log.info("Cloud Tasks API at %s; OIDC token keys at %s", server.address, self._keys_url("/jwks"))
        return server

    def _deliver_app_engine(self, record: Any) -> int:
        """App Engine targets' delivery, bound late (the routers come after the Cloud Tasks port)."""
        assert self._app_engine_delivery is not None
        return self._app_engine_delivery(record)

    def _keys_url(self, path: str) -> str:
        assert self._keys_server is not None
        return self._keys_server.listeners[0].url.rstrip("/") + path

    def exports(self) -> Dict[str, str]:
        """Variables that point Google's client libraries at this emulator (every instance gets them)."""
        found: Dict[str, str] = {}
        if self.datastore_server is not None:  # the rest (project, dataset) is per service: instance_process_env
            found["DATASTORE_EMULATOR_HOST"] = self.datastore_server.address
        if self.cloud_tasks is not None:
            found["CLOUD_TASKS_EMULATOR_HOST"] = self.cloud_tasks.address
            found["CLOUD_TASKS_EMULATOR_JWKS_URL"] = self._keys_url("/jwks")
            found["CLOUD_TASKS_EMULATOR_CERTS_URL"] = self._keys_url("/certs")
        return found

    def _preload_classic_scripts(self) -> None:
        """Import the classic services' apps before the dispatcher starts: a deferred task queued
        before a restart names functions of the app's modules, which must be importable when it runs."""
        for app in self.apps:
            if app.is_python3:
                continue
            loader = self.routers[app.service].loader
            for ref in dict.fromkeys(h.script for h in app.handlers if h.script is not None and not h.script.builtin):
                try:
                    loader.load(ref)
                except ScriptLoadError as exc:  # the router reports it again on each request
                    log.error("%s: %s", app.path, exc)

    def _admin_app(self, environ: dict, start_response):
        """The admin port: the console without a login (it is local-only, like dev_appserver's;
        `start` wraps this in the local-Host check).

        The console is served at the root of this port (it works out its own URL base), and its
        WSGI app is loaded once, on the first request."""
        from werkzeug.wrappers import Response

        if environ.get("PATH_INFO") == SHELL_PATH and self.shell is not None:
            return self.shell.app(environ, start_response)  # `gae-emu shell` calling the services
        environ[INTERNAL_KEY] = True
        app = getattr(self, "_admin_wsgi", None)
        if app is None:
            try:
                # ScriptLoader imports once per process; racing first requests get the same module.
                app = self._admin_wsgi = ScriptLoader(self.default_app.root).load(ADMIN_APP)
            except ScriptLoadError as exc:
                log.error("admin console: %s", exc)
                return Response(f"The admin console could not be loaded: {exc}", status=500,
                                mimetype="text/plain")(environ, start_response)
        with apiproxy.serving(environ):
            return app(environ, start_response)

    # -- inbound mail (the console and the pytest plugin call these) -------------------------------

    def deliver_mail(self, to: str, raw: "bytes | str") -> int:
        """POST an RFC 822 message to the default service's `/_ah/mail/<to>`; its HTTP status."""
        from gae_emu.runtime import inbound

        return inbound.deliver_mail(self.routers[self.default_service], self._default_host(), to, raw)

    def deliver_bounce(self, raw: "bytes | str", notification: Optional[Dict[str, str]] = None) -> int:
        """POST a bounce of the message `raw` to the default service's `/_ah/bounce`; its HTTP status."""
        from gae_emu.runtime import inbound

        return inbound.deliver_bounce(self.routers[self.default_service], self._default_host(), raw, notification)

    def _default_host(self) -> str:
        assert self.services is not None
        return self.services.hostname(self.default_service)

    @property
    def urls(self) -> Dict[str, str]:
        return {lst.name: lst.url for lst in self.servers.listeners}
