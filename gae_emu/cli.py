"""The `gae-emu` command: `gae-emu dev APP...` serves apps, `gae-emu check APP...` validates them.

The only module that reads argv and the environment and wires parts together. User mistakes become
one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import datetime
import logging
import os
import select
import signal
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import click

from gae_emu.config.appfiles import AppExtras, load_extras, sort_arguments
from gae_emu.config.appyaml import format_handler_table, load_app_yaml
from gae_emu.config.cronyaml import CronJob
from gae_emu.config.errors import ConfigError
from gae_emu.config.models import DEFAULT_SERVICE, AppConfig
from gae_emu.config.scriptcheck import module_clash
from gae_emu.config.summary import format_extras

USER_ERROR_EXIT = 2
# gRPC (the Cloud APIs' servers) would print a line into every instance's output when the emulator
# starts one ("skipping fork() handlers"): instances are started with fork + exec, never forked
# Python, so gRPC's fork support has nothing to do. Read by grpc when it is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


class UserError(click.ClickException):
    """A one-line mistake of the user's, exit code 2."""

    exit_code = USER_ERROR_EXIT

    def show(self, file=None) -> None:  # type: ignore[override]
        click.echo(f"gae-emu: {self.format_message()}", err=True)


def load_project(paths: Sequence[str], check_imports: bool = True) -> Tuple[List[AppConfig], AppExtras]:
    """The command line as `gcloud app deploy` takes it: each file by its base name (cron.yaml,
    dispatch.yaml, index.yaml, queue.yaml; any other name is a service), the ones not named read
    from beside the default service's app.yaml. All problems of all files are reported together.
    Classic services' scripts are import-checked here (they run in this process); python3
    services' code is never imported by gae-emu itself (their instances import it)."""
    try:
        files = sort_arguments(paths)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not files.apps:
        raise UserError("no app.yaml given: name a service's directory or app.yaml besides "
                        + ", ".join(paths))
    apps, app_paths, problems = [], [], []
    for path in files.apps:
        try:
            apps.append(load_app_yaml(path, check_imports=check_imports))
            app_paths.append(path)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("\n".join(problems))
    names = [app.service for app in apps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"service {duplicates[0]!r} is defined by more than one app.yaml: " + ", ".join(files.apps))
    clash = module_clash([app for app in apps if not app.is_python3])
    if clash:
        raise UserError(clash)
    default = next((i for i, app in enumerate(apps) if app.service == DEFAULT_SERVICE), 0)
    located = files.resolve(apps[default].root, os.path.dirname(app_yaml_display(app_paths[default])))
    try:
        extras = load_extras(located, names)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    return apps, extras


def app_yaml_display(path: str) -> str:
    """The app.yaml path as the user gave it (for messages about files beside it)."""
    return os.path.join(path, "app.yaml") if os.path.isdir(path) else path


def parse_env_vars(values: Sequence[str]) -> Dict[str, str]:
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env-var")
        result[key] = value
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gae-emu")
def main() -> None:
    """A local emulator of Google App Engine (standard environment, Python)."""


@main.command()
@click.argument("apps", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("--python", "python", default=None, metavar="PATH", help="Interpreter to import python3 services with. Default: a .venv or venv in the service's folder, else the one gae-emu runs in.")
def check(apps: Tuple[str, ...], python: Optional[str]) -> None:
    """Validate APP... (directories holding app.yaml, or yaml files: cron.yaml, dispatch.yaml,
    index.yaml and queue.yaml by name) and print what they configure.

    A python3 service's app is imported once in its own interpreter and environment, as its instance
    would import it; gae-emu never imports it itself."""
    from gae_emu.runtime.importcheck import instance_import_problem

    configs, extras = load_project(apps)
    problems = []
    for app in configs:
        problem = instance_import_problem(app, python) if app.is_python3 else None
        if problem:
            problems.append(f"{app.path}: {problem}")
    if problems:
        raise UserError("\n".join(problems))
    _warn_bundled_apis(configs)
    for app in configs:
        click.echo(f"{app.path}: service {app.service}, runtime {app.runtime}")
        click.echo(format_handler_table(app))
    click.echo(format_extras(extras, _next_three_runs))


def _warn_bundled_apis(configs: Sequence[AppConfig]) -> None:
    """A python3 service importing the bundled APIs without `app_engine_apis: true`: a warning."""
    from gae_emu.config.bundledapis import bundled_api_warning

    for app in configs:
        warning = bundled_api_warning(app)
        if warning:
            click.echo(f"gae-emu: warning: {warning}", err=True)


def _next_three_runs(job: CronJob) -> List[datetime.datetime]:
    """A job's next three runs from now, in its own time zone, ISO 8601 with the UTC offset."""
    from gae_emu.services.cron.schedule import next_runs

    now = datetime.datetime.now(job.zone)
    return next_runs(job.spec, job.zone, now.replace(second=0, microsecond=0), 3)


class DevCommand(click.Command):
    """`gae-emu dev`, also taking dev_appserver.py's spellings of its options (cli_aliases.py)."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        from gae_emu.cli_aliases import AliasError, translate

        try:
            args, notes = translate(args)
        except AliasError as exc:
            raise UserError(str(exc)) from None
        for note in notes:
            click.echo(f"gae-emu: {note}", err=True)
        ctx.meta["gae_emu.dev_args"] = list(args)
        return super().parse_args(ctx, args)


@main.command(cls=DevCommand, epilog="dev_appserver.py's spellings are accepted too: --admin_port, "
              "--storage_path, --clear_datastore[=yes|no], --enable_task_running=yes|no, --log_level, "
              "--env_var, --require_indexes, --automatic_restart, --smtp_host, ...")
@click.argument("apps", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless you say otherwise).")
@click.option("-p", "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port of the default service; further services take the next ports. 0 picks free ports.")
@click.option("--admin-port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port of the admin console (no login; local only). 0 picks a free port.")
@click.option("--api-port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Loopback port of the API server that appengine-python-standard apps call (python3 runtimes only). 0 picks a free port.")
@click.option("--datastore-port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Loopback port of the Cloud Datastore API (gRPC and REST) that google-cloud-ndb and google-cloud-datastore apps reach through DATASTORE_EMULATOR_HOST (python3 runtimes, [cloud] extra). 0 picks a free port.")
@click.option("--no-admin", is_flag=True, help="Do not serve the admin console on its own port.")
@click.option("--tasks-port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Loopback port of the Cloud Tasks API (gRPC) for google-cloud-tasks; instances get it as CLOUD_TASKS_EMULATOR_HOST and the banner prints it. 0 picks a free port. Served when a python3 service is, or when this option is given. Needs the [cloud] extra.")
@click.option("--no-tasks-api", is_flag=True, help="Do not serve the Cloud Tasks API.")
@click.option("--tasks-location", default="us-central1", show_default=True, help="The one location of the Cloud Tasks API (projects/APP_ID/locations/LOCATION).")
@click.option("--storage-path", type=click.Path(file_okay=False), default=None, help="Folder for the app's data (created with mode 0700). Default: gae-emu.APP_ID.USER.HASH under the system temp dir, HASH naming the app folder's path.")
@click.option("--clear-datastore", is_flag=True, help="Start with empty datastore, queues and tombstones.")
@click.option("--enable-task-running/--no-enable-task-running", default=True, show_default=True, help="Run push tasks when due; when off they only accumulate (run them from the admin console or the test API).")
@click.option("--enable-cron/--no-enable-cron", default=True, show_default=True, help="Run cron.yaml's jobs on their schedule; when off they run only from the admin console or the test API.")
@click.option("--require-indexes", is_flag=True, help="Refuse a datastore query that needs a composite index index.yaml lacks (NeedIndexError), as production does; without it the index is added to index.yaml's autogenerated section.")
@click.option("--enforce-queue-rates", is_flag=True, help="Honour queue.yaml rate and bucket_size (token buckets), as production does; dev_appserver ignores them.")
@click.option("--max-task-size", default=100 * 1024, show_default=True, type=click.IntRange(1), help="Largest push task in bytes, counted as App Engine counts it.")
@click.option("--tombstone-ttl", default=9 * 86400, show_default=True, type=click.FloatRange(0), help="Seconds a task name stays tombstoned after it ran or was deleted.")
@click.option("--task-deadline", default=600.0, show_default=True, type=click.FloatRange(1), help="Seconds a push task may run before the attempt counts as failed.")
@click.option("--env-var", "env_vars", multiple=True, metavar="KEY=VALUE", help="Extra environment variable for the app (repeatable).")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME", help="Extra Host name to serve besides local names (repeatable).")
@click.option("--smtp-host", default=None, metavar="HOST", help="Relay mail the app sends to this SMTP server (default: mail is only stored, logged and shown in the admin console).")
@click.option("--smtp-port", default=25, show_default=True, type=click.IntRange(1, 65535), help="Port of the --smtp-host server.")
@click.option("--smtp-user", default=None, help="User name for the --smtp-host server (STARTTLS is used when the server offers it).")
@click.option("--smtp-password", default=None, help="Password for --smtp-user.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error", "critical"]), help="Log level.")
@click.option("--python", "python", default=None, metavar="PATH", help="Interpreter for python3 services' instances. Default: a .venv or venv in the service's folder, else the one gae-emu runs in.")
@click.option("--reload/--no-reload", default=True, show_default=True, help="Restart when a file of the app changes: a python3 service's .py files restart its instance only; yaml files and classic services' .py files restart the server.")
@click.option("--reload-instances", is_flag=True, hidden=True, help="Set by --reload for the server it supervises.")
def dev(apps: Tuple[str, ...], host: str, port: int, admin_port: int, api_port: int, datastore_port: int, no_admin: bool,
        tasks_port: int, no_tasks_api: bool, tasks_location: str, storage_path: Optional[str],
        clear_datastore: bool, enable_task_running: bool, enable_cron: bool, require_indexes: bool, enforce_queue_rates: bool, max_task_size: int, tombstone_ttl: float,
        task_deadline: float, env_vars: Tuple[str, ...], allowed_hosts: Tuple[str, ...], smtp_host: Optional[str],
        smtp_port: int, smtp_user: Optional[str], smtp_password: Optional[str], log_level: str,
        python: Optional[str], reload: bool, reload_instances: bool) -> None:
    """Serve APP... (directories holding app.yaml, or yaml files; several are several services)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level != "debug":
        # deferred logs every task's X-AppEngine-* headers at INFO (as App Engine does); on a local
        # console that is a line per task and a lock every worker contends for: show it with debug.
        logging.getLogger("gae_emu.deferred").setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    configs, extras = load_project(apps)
    extra_env = parse_env_vars(env_vars)
    if not reload_instances:  # said once, by the supervisor when there is one
        _warn_bundled_apis(configs)
    if reload:
        from gae_emu.runtime.reloader import supervise

        given = click.get_current_context().meta["gae_emu.dev_args"]  # dev_appserver spellings translated
        child_args = ["dev"] + [a for a in given if a not in ("--reload",)] + ["--no-reload", "--reload-instances"]
        classic_roots = [app.root for app in configs if not app.is_python3]
        sys.exit(supervise(child_args, [app.root for app in configs], classic_roots))

    from gae_emu.emulator import Emulator, EmulatorOptions
    from gae_emu.runtime.entrypoint import EntrypointError
    from gae_emu.runtime.reloader import signal_ready, take_ready_fd

    ready_fd = take_ready_fd()
    from gae_emu.runtime.server import PortInUseError
    from gae_emu.storage import StorageError

    options = EmulatorOptions(
        host=host,
        port=port,
        admin_port=None if no_admin else admin_port,
        api_port=api_port,
        datastore_port=datastore_port,
        tasks_port=tasks_port if _serve_tasks_api(configs, no_tasks_api) else None,
        tasks_location=tasks_location,
        storage_path=Path(storage_path) if storage_path else None,
        clear_datastore=clear_datastore,
        enable_task_running=enable_task_running,
        enable_cron=enable_cron,
        require_indexes=require_indexes,
        enforce_queue_rates=enforce_queue_rates,
        max_task_size=max_task_size,
        tombstone_ttl=tombstone_ttl,
        task_deadline=task_deadline,
        allowed_hosts=allowed_hosts,
        env_vars=extra_env,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_user=smtp_user,
        smtp_password=smtp_password,
        python=python,
        reload_instances=reload_instances,
        config_files={kind: file for kind, file in extras.files.items() if file is not None},
    )
    try:
        emulator = Emulator(configs, options)
    except EntrypointError as exc:
        raise UserError(str(exc)) from None
    try:
        emulator.start()
    except (PortInUseError, StorageError) as exc:
        emulator.stop()
        raise UserError(str(exc)) from None
    for name, url in emulator.urls.items():
        label = "admin console" if name == "admin" else f"service {name}"
        click.echo(f"gae-emu: {label} at {url}")
    for name, value in emulator.exports().items():
        click.echo(f"gae-emu: export {name}={value}")
    click.echo(f"gae-emu: storage in {emulator.storage_path}")
    sys.stdout.flush()
    signal_ready(ready_fd)
    _wait_for_signal()
    emulator.stop()
    _exit_now(0)


@main.command()
@click.argument("apps", nargs=-1, type=click.Path(exists=False))
@click.option("--service", default=None, metavar="NAME", help="The service whose environment, interpreter and folder the prompt gets. Default: the default service.")
@click.option("--storage-path", type=click.Path(file_okay=False), default=None, help="The storage folder of the running `gae-emu dev`, if it was given one. Default: the folder `gae-emu dev` uses for these apps.")
@click.option("--python", "python", default=None, metavar="PATH", help="Interpreter of the prompt for a python3 service. Default: the one its instance runs with.")
@click.option("-c", "command", default=None, metavar="CODE", help="Run CODE instead of an interactive prompt.")
def shell(apps: Tuple[str, ...], service: Optional[str], storage_path: Optional[str], python: Optional[str],
          command: Optional[str]) -> None:
    """A Python prompt whose App Engine calls reach the running `gae-emu dev` of APP... (default: the
    app.yaml in this folder), as the SDK's remote_api shell did: Google's library (ndb, taskqueue,
    memcache, ...) and gae_emu.ext, with the service's environment, interpreter and folder."""
    from gae_emu.emulator import order_services, storage_path_for
    from gae_emu.runtime.shellaccess import NoEmulatorError, read_connection, shell_command

    configs, _ = load_project(apps or (".",), check_imports=False)
    wanted = service or order_services(configs)[0].service
    chosen = next((app for app in configs if app.service == wanted), None)
    if chosen is None:
        raise UserError(f"no service {service!r} among {', '.join(app.service for app in configs)}")
    path = storage_path_for(configs, Path(storage_path) if storage_path else None)
    try:
        connection = read_connection(path)
    except NoEmulatorError as exc:
        raise UserError(str(exc)) from None
    if chosen.service not in connection["tickets"]:
        raise UserError(f"the gae-emu dev running on {path} does not serve service {chosen.service!r}")
    argv, env = shell_command(connection, chosen, python)
    if command is not None:
        argv += ["-c", command]
    sys.stdout.flush()
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        raise UserError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None


@main.group(invoke_without_command=True)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="Loopback port of the Cloud Datastore API (gRPC and REST share it). 0 picks a free port.")
@click.option("--storage-path", type=click.Path(file_okay=False), default=None, help="Folder for the data (created with mode 0700); entities persist there across restarts. Default: a folder under the system temp dir.")
@click.option("--clear-datastore", is_flag=True, help="Start with an empty datastore.")
@click.option("--project", default="gae-emu", show_default=True, help="Project id printed in the DATASTORE_PROJECT_ID line of env-init (the server answers any project).")
@click.option("--admin-port", default=None, type=click.IntRange(0, 65535), help="Also serve the admin console's datastore viewer on this loopback port (no login; local only). 0 picks a free port. Default: none.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error", "critical"]), help="Log level.")
@click.pass_context
def datastore(ctx: click.Context, port: int, storage_path: Optional[str], clear_datastore: bool, project: str,
              admin_port: Optional[int], log_level: str) -> None:
    """Serve only the Cloud Datastore API (google-cloud-datastore, Cloud NDB, other languages' clients),
    a drop-in for `gcloud beta emulators datastore start`; `env-init` prints its variables."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gae_emu.cloud.datastore import available
    from gae_emu.datastore_emulator import StandaloneDatastore, default_storage_path
    from gae_emu.runtime.server import PortInUseError
    from gae_emu.storage import StorageError

    if not available():
        raise UserError("the Cloud Datastore API needs the [cloud] extra: pip install 'gae-emu[cloud]'")
    path = Path(storage_path) if storage_path else default_storage_path()
    try:
        server = StandaloneDatastore(path, port, project, clear_datastore, admin_port)
    except (PortInUseError, StorageError) as exc:
        raise UserError(str(exc)) from None
    server.start()
    click.echo(f"gae-emu: Cloud Datastore API at {server.server.address} (gRPC and REST)")
    if server.admin_url:
        click.echo(f"gae-emu: admin console at {server.admin_url}")
    _serve_until_signal(server, path)


@datastore.command("env-init")
@click.option("--storage-path", type=click.Path(file_okay=False), default=None, help="The folder of the running server. Default: the default of `gae-emu datastore`.")
def datastore_env_init(storage_path: Optional[str]) -> None:
    """Print `export` lines pointing clients at the `gae-emu datastore` running on that storage:
    eval "$(gae-emu datastore env-init)"."""
    from gae_emu.datastore_emulator import NotRunningError, default_storage_path, read_env

    try:
        env = read_env(Path(storage_path) if storage_path else default_storage_path())
    except NotRunningError as exc:
        raise UserError(str(exc)) from None
    for name, value in env.items():
        click.echo(f"export {name}={value}")


@main.command()
@click.option("--port", default=8123, show_default=True, type=click.IntRange(0, 65535), help="Loopback port of the Cloud Tasks API (gRPC). 0 picks a free port.")
@click.option("--storage-path", type=click.Path(file_okay=False), default=None, help="Folder for queues, tasks and tombstones (created with mode 0700); they persist there across restarts. Default: a folder under the system temp dir.")
@click.option("--queue-yaml", type=click.Path(dir_okay=False, exists=True), default=None, help="A queue.yaml (or queue.yml) whose queues to serve, reloaded when it changes. Default: only `default`, plus queues created through the API.")
@click.option("--project", default="gae-emu", show_default=True, help="The project of queue names (projects/PROJECT/locations/LOCATION/queues/...).")
@click.option("--tasks-location", default="us-central1", show_default=True, help="The one location of queue names.")
@click.option("--app-url", default=None, metavar="URL", help="Where App Engine targets go (e.g. a dev server at http://localhost:8080), with the App Engine task headers. Without it they fail and are retried.")
@click.option("--task-deadline", default=600.0, show_default=True, type=click.FloatRange(1), help="Seconds a task may run before the attempt counts as failed.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error", "critical"]), help="Log level.")
def tasks(port: int, storage_path: Optional[str], queue_yaml: Optional[str], project: str, tasks_location: str,
          app_url: Optional[str], task_deadline: float, log_level: str) -> None:
    """Serve only the Cloud Tasks API (google-cloud-tasks) for apps that are not on App Engine:
    HTTP targets, and App Engine targets sent to --app-url."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gae_emu.cloud.tasks import library_available

    if not library_available():
        raise UserError("the Cloud Tasks API needs the [cloud] extra: pip install 'gae-emu[cloud]'")
    from gae_emu.runtime.server import PortInUseError
    from gae_emu.storage import StorageError
    from gae_emu.tasks_emulator import StandaloneTasks, check_app_url, default_storage_path

    if queue_yaml is not None and Path(queue_yaml).name not in ("queue.yaml", "queue.yml"):
        raise click.UsageError(f"--queue-yaml {queue_yaml}: the file must be named queue.yaml or queue.yml")
    try:
        if app_url is not None:
            check_app_url(app_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    path = Path(storage_path) if storage_path else default_storage_path()
    try:
        server = StandaloneTasks(path, port=port, project=project, location=tasks_location,
                                 queue_yaml=Path(queue_yaml) if queue_yaml else None, app_url=app_url,
                                 deadline=task_deadline)
    except (ConfigError, PortInUseError, StorageError) as exc:
        raise UserError(str(exc)) from None
    server.start()
    click.echo(f"gae-emu: Cloud Tasks API at {server.server.address} (project {project}, location {tasks_location})")
    _serve_until_signal(server, path)


def _exit_now(code: int) -> None:
    """Exit once everything is stopped and the storage closed, skipping the interpreter's
    finalization: grpc's exit hooks alone take about half a second, paid by every test teardown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_until_signal(server, path: Path) -> None:
    """The standalone servers' banner (storage, then `export` lines for the client libraries),
    then serve until SIGINT/SIGTERM."""
    click.echo(f"gae-emu: storage in {path}")
    for name, value in server.env.items():
        click.echo(f"export {name}={value}")
    sys.stdout.flush()
    _wait_for_signal()
    server.stop()


def _serve_tasks_api(configs: Sequence[AppConfig], off: bool) -> bool:
    """Cloud Tasks is for python3 apps (and scripts beside them); for classic apps only when asked
    for with --tasks-port, since loading gRPC and its messages costs about half a second of start-up."""
    if off:
        return False
    asked = click.get_current_context().get_parameter_source("tasks_port") != click.core.ParameterSource.DEFAULT
    return asked or any(app.is_python3 for app in configs)


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM. The handler only writes to a pipe: a handler that took a lock
    (threading.Event.set) could deadlock with the main thread holding that lock as the signal came."""
    wake_read, wake_write = os.pipe()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os.write(wake_write, b"x"))
    select.select([wake_read], [], [])


if __name__ == "__main__":  # pragma: no cover
    main()
