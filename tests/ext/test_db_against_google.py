"""gae_emu.ext.db against Google's own db: every scenario of `db_scenarios` (inequality order, the
first-sort rule, list properties, GeoPt and User properties, projection and distinct, Expando,
cursors, metadata) runs with `google.appengine.ext.db` on Google's datastore stub (testbed) and
with `gae_emu.ext.db` on gae-emu's service, and must give the same answer. Left out: `!=` without
a sort order, which Google's db merges from two sub-queries in no documented order (gae-emu orders
by the property), and the text of the partial-entity put error (same class)."""
from __future__ import annotations

from typing import Any

import pytest

from gae_emu import apiproxy
from gae_emu.api import users
from gae_emu.ext import db
from gae_emu.ext.db import metadata

from . import db_scenarios
from .test_db import make_services

google_db = pytest.importorskip("google.appengine.ext.db", reason="appengine-python-standard is not installed")


def test_gae_emu_db_answers_as_googles_db(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.appengine.api import users as google_users
    from google.appengine.ext import testbed
    from google.appengine.ext.db import metadata as google_metadata

    monkeypatch.setenv("APPLICATION_ID", "dev~test")
    monkeypatch.setenv("AUTH_DOMAIN", "gmail.com")
    bed = testbed.Testbed()
    bed.activate()
    try:
        bed.init_datastore_v3_stub()
        bed.init_memcache_stub()
        google = db_scenarios.run_all(google_db, google_metadata, google_users)
    finally:
        bed.deactivate()
    services = make_services(tmp_path / "db.sqlite3")
    apiproxy.install(services)
    try:
        ours = db_scenarios.run_all(db, metadata, users)
    finally:
        apiproxy.uninstall(services)
        services.storage.close()
    assert set(google) == set(ours) and len(ours) >= 35
    differences = {name: {"google": google[name], "gae-emu": ours[name]}
                   for name in google if google[name] != ours[name]}
    assert differences == {}
