"""dev_appserver.py's spellings of `gae-emu dev`'s options, so the habits of the SDK's command work.

`translate(args)` rewrites the command line before click parses it: `--admin_port 9000` becomes
`--admin-port 9000`, `--clear_datastore=yes` becomes `--clear-datastore`, `--enable_task_running=no`
becomes `--no-enable-task-running`. Booleans take dev_appserver's values (its `BooleanAction`: bare,
or `=yes|no|true|false|1|0`, any case). A dev_appserver option gae-emu does not have is either
harmless to leave out (a note on stderr, then it is dropped) or would change what the app sees or
where data goes (an `AliasError`: one line, exit 2, nothing started).

Imports: the standard library only (only cli.py imports this module).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}

# dev_appserver option -> ours; both take one value.
RENAMED: Dict[str, str] = {
    "--admin_port": "--admin-port",
    "--api_port": "--api-port",
    "--storage_path": "--storage-path",
    "--log_level": "--log-level",
    "--dev_appserver_log_level": "--log-level",
    "--env_var": "--env-var",
    "--addn_host": "--allow-host",
    "--smtp_host": "--smtp-host",
    "--smtp_port": "--smtp-port",
    "--smtp_user": "--smtp-user",
    "--smtp_password": "--smtp-password",
    "--datastore_emulator_port": "--datastore-port",
    "--runtime_python_path": "--python",
}

# dev_appserver boolean -> (our option when true, our option when false); None: nothing to pass.
BOOLEANS: Dict[str, Tuple[Optional[str], Optional[str]]] = {
    "--clear_datastore": ("--clear-datastore", None),
    "--require_indexes": ("--require-indexes", None),
    "--enable_task_running": ("--enable-task-running", "--no-enable-task-running"),
    "--automatic_restart": ("--reload", "--no-reload"),
    "--enable_host_checking": (None, None),  # true is what gae-emu always does; false: see NOTED_VALUES
}
# A boolean's value gae-emu does not follow, though it can run without it: a note, then dropped.
NOTED_VALUES: Dict[Tuple[str, bool], str] = {
    ("--enable_host_checking", False): "gae-emu always checks the Host header (against DNS rebinding): "
                                       "local names are served; add others with --allow-host NAME",
}

# dev_appserver host options: their loopback values are what gae-emu does anyway (a note); any other
# would put a server on the network, which gae-emu does only through --host.
LOOPBACK_VALUES = {"127.0.0.1", "localhost", "::1", "[::1]"}
HOST_OPTIONS: Dict[str, str] = {
    "--admin_host": "the admin console listens on --host",
    "--api_host": "the API server listens on loopback only",
}

# dev_appserver options whose absence changes nothing the app sees: dropped with a note.
# name -> (takes a value, why it is not needed)
IGNORED: Dict[str, Tuple[bool, str]] = {
    "--skip_sdk_update_check": (False, "gae-emu never checks for updates"),
    "--use_mtime_file_watcher": (False, "--reload always polls mtimes"),
    "--smtp_allow_tls": (False, "STARTTLS is used whenever the --smtp-host server offers it"),
    "--show_mail_body": (False, "every sent message is logged and shown whole on the admin console's Mail page"),
    "--enable_sendmail": (False, "sent mail is stored and shown in the admin console; relay it with --smtp-host"),
    "--api_server_supports_grpc": (False, "the API server speaks what appengine-python-standard sends"),
    "--enable_mvm_logs": (False, "not a standard-environment feature"),
    "--enable_watching_go_path": (False, "gae-emu serves Python apps only"),
    "--check_java_for_cloud_datastore_emulator": (False, "gae-emu needs no Java"),
    "--max_module_instances": (True, "each service runs one instance"),
    "--threadsafe_override": (True, "an instance serves requests as its entrypoint's server does"),
    "--google_analytics_client_id": (True, "gae-emu sends no usage data"),
    "--google_analytics_user_agent": (True, "gae-emu sends no usage data"),
}

# dev_appserver options gae-emu does not have and that would change behaviour: refused, with a hint.
_APP_ID = "the app id is app.yaml's `application`, else the app folder's name"
MISSING: Dict[str, str] = {
    "--application": _APP_ID,
    "-A": _APP_ID,
    "--datastore_path": "the datastore is a file in the --storage-path folder",
    "--blobstore_path": "blobs are kept in the --storage-path folder",
    "--logs_path": "the request log is kept in memory and shown in the admin console",
    "--search_indexes_path": "the Search API is not emulated",
    "--clear_search_indexes": "the Search API is not emulated",
    "--python_virtualenv_path": "give the virtualenv's interpreter with --python VENV/bin/python "
                                "(a .venv or venv in the service's folder is found by itself)",
    "--enable_console": "the admin console has no interactive Python console",
    "--datastore_consistency_policy": "queries are strongly consistent, as Firestore in Datastore mode is",
    "--auto_id_policy": "automatic ids are sequential (docs/differences.md)",
    "--support_datastore_emulator": "the datastore is gae-emu's own; google-cloud clients reach it "
                                    "through DATASTORE_EMULATOR_HOST",
    "--running_datastore_emulator_host": "the datastore is gae-emu's own",
    "--specified_service_ports": "services take --port and the ports after it, in command-line order",
}
# Further dev_appserver options, for other languages or features gae-emu leaves out: refused plainly.
_OTHER_PREFIXES = ("--php_", "--go_", "--java_", "--mysql_", "--appidentity_", "--ssl_", "--python_startup_",
                   "--datastore_emulator_", "--default_gcs_")
_OTHER = {"--custom_entrypoint", "--runtime", "--external_port", "--grpc_api_port", "--auth_domain",
          "--allow_skipped_files", "--watcher_ignore_re", "--test_ssl_port", "--application_prefix"}


class AliasError(ValueError):
    """A dev_appserver option gae-emu cannot honour; the message is one line."""


def parse_boolean(option: str, value: str) -> bool:
    """dev_appserver's BooleanAction values."""
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise AliasError(f"{option}={value}: not a boolean; use yes, no, true, false, 1 or 0")


def translate(args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(our arguments, notes for stderr) for a `gae-emu dev` command line that may use
    dev_appserver.py's spellings. Raises AliasError for an option that cannot be honoured."""
    out: List[str] = []
    notes: List[str] = []
    rest = list(args)
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            out.extend(rest[i - 1:])
            break
        name, eq, value = arg.partition("=")
        if name in RENAMED:
            out.append(f"{RENAMED[name]}={value}" if eq else RENAMED[name])
            if name == "--runtime_python_path" and eq:
                out[-1] = "--python=" + _python_path(value)
            elif name == "--runtime_python_path" and i < len(rest):
                out.append(_python_path(rest[i]))
                i += 1
        elif name in BOOLEANS:
            if not eq and i < len(rest) and rest[i].lower() in _TRUE | _FALSE:
                value, eq = rest[i], "="  # `--clear_datastore yes`: argparse's optional value
                i += 1
            flag = parse_boolean(name, value) if eq else True
            if (name, flag) in NOTED_VALUES:
                notes.append(f"note: {name}={value}: {NOTED_VALUES[(name, flag)]}")
            ours = BOOLEANS[name][0 if flag else 1]
            if ours:
                out.append(ours)
        elif name in IGNORED:
            takes_value, why = IGNORED[name]
            if takes_value and not eq and i < len(rest):
                i += 1
            notes.append(f"note: {name} is a dev_appserver.py option gae-emu does not need ({why}); ignored")
        elif name in HOST_OPTIONS:
            if not eq and i < len(rest):
                value, i = rest[i], i + 1
            if value.lower() not in LOOPBACK_VALUES:
                raise AliasError(f"{name}={value}: {HOST_OPTIONS[name]} (127.0.0.1 unless you say otherwise)")
            notes.append(f"note: {name}={value} is what gae-emu does anyway ({HOST_OPTIONS[name]}); ignored")
        elif name in MISSING:
            raise AliasError(f"{name} is a dev_appserver.py option gae-emu does not have: {MISSING[name]}")
        elif name in _OTHER or name.startswith(_OTHER_PREFIXES):
            raise AliasError(f"{name} is a dev_appserver.py option gae-emu does not have "
                             "(see gae-emu dev --help for what it has)")
        else:
            out.append(arg)
    return out, notes


def _python_path(value: str) -> str:
    """--runtime_python_path is a path, or `runtime=path,...` pairs: take the python3 one."""
    if "=" not in value:
        return value
    pairs = dict(item.partition("=")[::2] for item in value.split(","))
    for runtime in sorted(pairs, reverse=True):
        if runtime.startswith("python3"):
            return pairs[runtime]
    raise AliasError(f"--runtime_python_path={value}: no python3 entry; gae-emu runs python3 services only "
                     "in instances")
