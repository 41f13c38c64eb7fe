"""Which composite index a query needs, by production's rules (Google's CompositeIndexForQuery)."""
from __future__ import annotations

import pytest

from gae_emu.services.datastore import Filter, IndexProperty, Key, Order, Query, composite_index

ANCESTOR = Key.build("dev~t", "", (("A", 1),))


def props(query: Query):
    index = composite_index(query)
    return None if index is None else [(p.name, "desc" if p.descending else "asc") for p in index.properties]


@pytest.mark.parametrize("query, expected", [
    (Query(kind="K"), None),
    (Query(kind="K", filters=[Filter("a", "=", 1)]), None),
    (Query(kind="K", filters=[Filter("a", "=", 1), Filter("b", "=", 2)]), None),
    (Query(kind="K", filters=[Filter("a", ">", 1)]), None),
    (Query(kind="K", orders=[Order("a", True)]), None),
    (Query(kind="K", orders=[Order("__key__", True)]), [("__key__", "desc")]),
    (Query(kind="K", filters=[Filter("b", "=", 1)], orders=[Order("a", True)]), [("b", "asc"), ("a", "desc")]),
    (Query(kind="K", filters=[Filter("b", "=", 1), Filter("a", "<", 2)]), [("b", "asc"), ("a", "asc")]),
    (Query(kind="K", orders=[Order("a"), Order("b", True), Order("__key__")]), [("a", "asc"), ("b", "desc")]),
    (Query(kind="K", filters=[Filter("a", "=", 1)], orders=[Order("a")]), None),  # order on an equality: dropped
    (Query(kind="K", ancestor=ANCESTOR), None),
    (Query(kind="K", ancestor=ANCESTOR, filters=[Filter("a", "=", 1)]), None),
    (Query(kind="K", ancestor=ANCESTOR, orders=[Order("a")]), [("a", "asc")]),
    (Query(kind="K", projection=["a"]), None),
    (Query(kind="K", projection=["b", "a"]), [("a", "asc"), ("b", "asc")]),
    (Query(kind="K", projection=["b", "a"], group_by=["b"]), [("b", "asc"), ("a", "asc")]),
    (Query(kind="K", filters=[Filter("__key__", ">", ANCESTOR)]), None),
    (Query(filters=[Filter("__key__", ">", ANCESTOR)]), None),
])
def test_composite_index_rules(query, expected):
    assert props(query) == expected


def test_the_index_names_kind_and_ancestor():
    index = composite_index(Query(kind="K", ancestor=ANCESTOR, orders=[Order("a")]))
    assert (index.kind, index.ancestor, index.properties) == ("K", True, (IndexProperty("a"),))
