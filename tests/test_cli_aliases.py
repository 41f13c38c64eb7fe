"""cli_aliases.translate: dev_appserver.py's spellings to gae-emu dev's options."""
from __future__ import annotations

import pytest

from gae_emu.cli_aliases import AliasError, translate


@pytest.mark.parametrize("given, expected", [
    (["--admin_port", "9000"], ["--admin-port", "9000"]),
    (["--admin_port=9000"], ["--admin-port=9000"]),
    (["--storage_path=/s", "app"], ["--storage-path=/s", "app"]),
    (["--clear_datastore"], ["--clear-datastore"]),
    (["--clear_datastore=YES"], ["--clear-datastore"]),
    (["--clear_datastore=no"], []),
    (["--clear_datastore", "true", "app"], ["--clear-datastore", "app"]),
    (["--clear_datastore", "app"], ["--clear-datastore", "app"]),
    (["--enable_task_running=no"], ["--no-enable-task-running"]),
    (["--enable_task_running=1"], ["--enable-task-running"]),
    (["--automatic_restart=false"], ["--no-reload"]),
    (["--require_indexes=0"], []),
    (["--enable_host_checking=true"], []),
    (["--log_level", "debug"], ["--log-level", "debug"]),
    (["--dev_appserver_log_level=warning"], ["--log-level=warning"]),
    (["--env_var", "A=b", "--env_var=C=d"], ["--env-var", "A=b", "--env-var=C=d"]),
    (["--addn_host", "myhost.test"], ["--allow-host", "myhost.test"]),
    (["--runtime_python_path=/usr/bin/python3"], ["--python=/usr/bin/python3"]),
    (["--runtime_python_path", "python27=/p2,python3=/p3"], ["--python", "/p3"]),
    (["--port", "8080", "-p", "1", "--no-admin"], ["--port", "8080", "-p", "1", "--no-admin"]),
    (["--", "--admin_port"], ["--", "--admin_port"]),
])
def test_translation(given, expected):
    assert translate(given) == (expected, [])


def test_loopback_hosts_and_host_checking_off_are_dropped_with_a_note():
    args, notes = translate(["--admin_host", "127.0.0.1", "--api_host=localhost", "--enable_host_checking=no", "app"])
    assert args == ["app"]
    assert notes == [
        "note: --admin_host=127.0.0.1 is what gae-emu does anyway (the admin console listens on --host); ignored",
        "note: --api_host=localhost is what gae-emu does anyway (the API server listens on loopback only); ignored",
        "note: --enable_host_checking=no: gae-emu always checks the Host header (against DNS rebinding): local "
        "names are served; add others with --allow-host NAME",
    ]


def test_harmless_options_are_dropped_with_a_note():
    args, notes = translate(["--max_module_instances", "3", "--skip_sdk_update_check", "app"])
    assert args == ["app"]
    assert notes == [
        "note: --max_module_instances is a dev_appserver.py option gae-emu does not need (each service runs one instance); ignored",
        "note: --skip_sdk_update_check is a dev_appserver.py option gae-emu does not need (gae-emu never checks for updates); ignored",
    ]


@pytest.mark.parametrize("given, message", [
    (["-A", "myapp"], "-A is a dev_appserver.py option gae-emu does not have: the app id is app.yaml's `application`"),
    (["--admin_host=0.0.0.0"], "--admin_host=0.0.0.0: the admin console listens on --host"),
    (["--require_indexes=sometimes"], "--require_indexes=sometimes: not a boolean"),
    (["--runtime_python_path=python27=/p2"], "--runtime_python_path=python27=/p2: no python3 entry"),
    (["--go_work_dir=/x"], "--go_work_dir is a dev_appserver.py option gae-emu does not have"),
])
def test_options_that_would_change_behaviour_are_refused(given, message):
    with pytest.raises(AliasError) as info:
        translate(given)
    assert str(info.value).startswith(message)
