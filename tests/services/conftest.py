"""Fixtures shared by the service tests."""
from __future__ import annotations

import pytest

from gae_emu.storage import Storage


@pytest.fixture
def storage(tmp_path):
    """A fresh SQLite database for one test, closed afterwards."""
    s = Storage(tmp_path / "db.sqlite3")
    yield s
    s.close()
