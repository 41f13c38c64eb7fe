"""gae-emu's answers against Google's: every scenario of `stub_scenarios` (query order, list
properties, mixed types, GeoPt and User values, projection, distinct, metadata, QueryResult.index,
cursors (also reversed), keys, nulls, structured properties, the db API and GQL, transactions, memcache locks and counters) runs once on Google's own datastore and memcache stubs (the
`testbed` of appengine-python-standard) and once through gae-emu's API server, and must give the
same answer. Two known differences of Google's stub are left out of the scenarios: it refuses a
cursor on a descending sort of a list property ("Cursor does not match query"), and under testbed's
default consistency policy it has no `__entity_group__` versions; both are covered by gae-emu's own
tests."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from .conftest import APP_ID, NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.ext import ndb, testbed  # noqa: E402
from google.appengine.ext.ndb import tasklets  # noqa: E402

from . import stub_scenarios  # noqa: E402


def _fresh_ndb_context() -> None:
    tasklets.set_context(None)
    context = ndb.get_context()
    context.set_cache_policy(False)  # answers must come from the datastore, not ndb's caches
    context.set_memcache_policy(False)


def _google_answers(monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    monkeypatch.setenv("APPLICATION_ID", APP_ID)
    bed = testbed.Testbed()
    bed.activate()
    try:
        bed.init_datastore_v3_stub()
        bed.init_memcache_stub()
        _fresh_ndb_context()
        return stub_scenarios.run_all()
    finally:
        bed.deactivate()


def test_gae_emu_answers_as_googles_stubs(google_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("__CONTEXT__", "")
    google = _google_answers(monkeypatch)
    _fresh_ndb_context()
    ours = stub_scenarios.run_all()
    assert set(google) == set(ours) and len(ours) >= 120
    differences = {name: {"google": google[name], "gae-emu": ours[name]}
                   for name in google if google[name] != ours[name]}
    assert differences == {}
