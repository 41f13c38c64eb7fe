"""docs/google-library.md's per-service table names exactly the calls the API server answers, and a
call listed as not supported answers CALL_NOT_FOUND naming it."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Set

import pytest

from gae_emu.apiserver.protos import pb

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

DOC = Path(__file__).resolve().parents[2] / "docs" / "google-library.md"
ROW = re.compile(r"^\| `([a-z_0-9]+)` \|([^|]*)\|([^|]*)\|$")


def documented() -> Dict[str, tuple]:
    table = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            names = lambda cell: {n.strip() for n in cell.split(",") if n.strip()}  # noqa: E731
            table[match.group(1)] = (names(match.group(2)), names(match.group(3)))
    return table


def test_the_table_lists_every_answered_call(rpc_app):
    answered: Dict[str, Set[str]] = {}
    for service, method in rpc_app.methods():
        answered.setdefault(service, set()).add(method)
    assert {service: calls for service, (calls, _) in documented().items()} == answered


def test_calls_listed_as_unsupported_answer_call_not_found(rpc):
    for service, (_, missing) in documented().items():
        for method in missing:
            response = rpc.call(service, method, pb().api_base.VoidProto())
            assert response.rpc_error.code == 1 and f"{service}.{method}()" in response.rpc_error.detail
