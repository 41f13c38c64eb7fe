"""Fixtures of the admin console tests: the small app under `app/`, served by the real `gae-emu dev`.

`paused` runs with --no-enable-task-running (tests step tasks through the admin API); `running`
dispatches tasks as they come due. Both are module-scoped and reset before each test that asks
for them, so tests stay independent without paying for a server start each.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import pytest

from gae_emu.testing import EmulatorHandle, HttpClient, emulator

APP = Path(__file__).resolve().parent / "app"
TOKEN_RE = re.compile(r'name="xsrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def paused_server() -> Iterator[EmulatorHandle]:
    with emulator(APP, args=["--no-enable-task-running"]) as handle:
        yield handle


@pytest.fixture(scope="module")
def running_server() -> Iterator[EmulatorHandle]:
    with emulator(APP) as handle:
        yield handle


@pytest.fixture
def paused(paused_server: EmulatorHandle) -> EmulatorHandle:
    paused_server.reset()
    return paused_server


@pytest.fixture
def running(running_server: EmulatorHandle) -> EmulatorHandle:
    running_server.wait_until_idle(10)
    running_server.reset()
    return running_server


@pytest.fixture
def admin(paused: EmulatorHandle) -> HttpClient:
    """A fresh client of the paused emulator's admin port."""
    assert paused.admin_url
    return HttpClient(paused.admin_url)


@pytest.fixture
def token_of() -> Callable[[HttpClient, str], str]:
    """The CSRF token a console page embeds in its forms."""

    def token(client: HttpClient, path: str) -> str:
        page = client.get(path)
        assert page.status == 200, page.text
        match = TOKEN_RE.search(page.text)
        assert match, "no xsrf_token field on " + path
        return match.group(1)

    return token
