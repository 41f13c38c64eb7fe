"""The development error page: local user requests only, never the task queue's, always escaped."""
from __future__ import annotations

from gae_emu.runtime.devpage import development_error_page
from gae_emu.runtime.environ import INTERNAL_KEY

TRACE = 'Traceback (most recent call last):\n  File "main.py", line 3, in app\nKeyError: \'<script>\'\n'


def test_local_requests_get_the_escaped_traceback():
    page = development_error_page({"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "PATH_INFO": "/<x>"}, "main.app", TRACE)
    body = page.get_data(as_text=True)
    assert page.status_code == 500
    assert "KeyError: &#x27;&lt;script&gt;&#x27;" in body and "GET /&lt;x&gt;" in body and "<script>" not in body


def test_remote_and_internal_requests_get_none():
    assert development_error_page({"REMOTE_ADDR": "192.0.2.7"}, "main.app", TRACE) is None
    assert development_error_page({"REMOTE_ADDR": "0.1.0.2", INTERNAL_KEY: True}, "main.app", TRACE) is None
    assert development_error_page({"REMOTE_ADDR": "127.0.0.1", INTERNAL_KEY: True}, "main.app", TRACE) is None
