"""Composite indexes: which one a query needs, by production's rules.

App Engine answers a query from its built-in indexes when it can (a kind alone; a kind with one
filter or one sort; equality filters only; an ancestor alone) and needs a composite index otherwise.
`composite_index(query)` returns the index production would scan, as Google's
`datastore_index.CompositeIndexForQuery` derives it: equality-filtered properties (by name), then
the sort orders (or the inequality property), then projected and grouped properties (by name) not
already listed; `None` when the built-in indexes suffice. The API server reports it as
`QueryResult.index` (ndb's `index_list()`); a future `--require-indexes` can compare it with
index.yaml.

Imports: the standard library, `.query`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from gae_emu.services.datastore.query import (
    INEQUALITY_OPERATORS, KEY_PROPERTY, Filter, Order, Query, normalize_filters, normalize_orders,
)

# Properties whose equality filters the built-in indexes cannot merge (datastore_types._SPECIAL_PROPERTIES).
SPECIAL_PROPERTIES = {KEY_PROPERTY, "__scatter__", "__unapplied_log_timestamp_us__"}


@dataclass(frozen=True)
class IndexProperty:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class CompositeIndex:
    kind: str
    ancestor: bool
    properties: Tuple[IndexProperty, ...]


def _natively_supported_removed(filters: List[Filter], orders: List[Order]) -> Tuple[List[Filter], List[Order]]:
    """Drop what every index supports anyway: a final `__key__` ascending order, and `__key__`
    filters unless another property carries an inequality or the key sorts descending."""
    key_descending = bool(orders) and orders[-1].name == KEY_PROPERTY and orders[-1].descending
    if orders and orders[-1].name == KEY_PROPERTY and not key_descending:
        orders = orders[:-1]
    if not key_descending and not any(f.op in INEQUALITY_OPERATORS and f.name != KEY_PROPERTY for f in filters):
        filters = [f for f in filters if f.name != KEY_PROPERTY]
    return filters, orders


def composite_index(query: Query) -> Optional[CompositeIndex]:
    """The composite index production would use for `query`, or None when none is needed."""
    if not query.kind:
        return None
    filters = normalize_filters(query.filters)
    orders = normalize_orders(filters, query.orders)
    listed = {f.name for f in filters} | {o.name for o in orders}
    exists = [name for name in dict.fromkeys(list(query.projection) + list(query.group_by)) if name not in listed]
    filters, orders = _natively_supported_removed(filters, orders)
    equality = sorted({f.name for f in filters if f.op not in INEQUALITY_OPERATORS})
    inequality = next((f.name for f in filters if f.op in INEQUALITY_OPERATORS), None)
    if inequality is None and not exists and not orders and not SPECIAL_PROPERTIES & set(equality):
        return None
    ordered = [IndexProperty(o.name, o.descending) for o in orders]
    if inequality is not None and not orders:
        ordered.append(IndexProperty(inequality))
    grouped = sorted(n for n in exists if n in query.group_by)
    others = sorted(n for n in exists if n not in query.group_by)
    properties = tuple([IndexProperty(n) for n in equality] + ordered + [IndexProperty(n) for n in grouped + others])
    if query.ancestor is None and len(properties) <= 1:
        if not (ordered and ordered[0].name == KEY_PROPERTY and ordered[0].descending):
            return None
    return CompositeIndex(query.kind, query.ancestor is not None, properties)
