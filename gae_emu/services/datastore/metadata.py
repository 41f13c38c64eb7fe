"""The datastore's metadata pseudo-kinds: `__kind__`, `__namespace__`, `__property__` queries and
`__entity_group__` gets, answered as App Engine answers them.

A metadata query is evaluated like any other (`query.run`) over pseudo-entities built from what is
stored: one `__kind__` entity per kind of the query's namespace (key `('__kind__', kind)`); one
`__namespace__` entity per namespace of the app (key name = the namespace, id 1 for the empty one);
one `__property__` entity per indexed property of each kind (key `('__kind__', kind,
'__property__', name)`) with `property_representation`, the value types the index holds (`INT64`,
`STRING`, ...). Such queries take only comparison filters and ascending orders on `__key__` (Google's
stub's `ParseKeyFilteredQuery`), no transaction, and an ancestor only for `__property__` (a kind's
key, or a property's). `__entity_group__` answers gets only: `(root, '__entity_group__', 1)` has
`__version__`, which rises with every committed write to the group.

Imports: the standard library, `.entities`, `.errors`, `.keys`, `.query`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, List, Optional

from gae_emu.services.datastore.entities import Entity, Property, Value, value_order
from gae_emu.services.datastore.errors import BadRequestError
from gae_emu.services.datastore.keys import Key
from gae_emu.services.datastore.query import (
    INEQUALITY_OPERATORS, KEY_PROPERTY, Query, normalize_filters, normalize_orders,
)

KIND, NAMESPACE, PROPERTY, ENTITY_GROUP = "__kind__", "__namespace__", "__property__", "__entity_group__"
QUERYABLE = (KIND, NAMESPACE, PROPERTY)
EMPTY_NAMESPACE_ID = 1
VERSION_PROPERTY = "__version__"
# Value-type names of `property_representation`, by the PropertyValue field number `value_order` leads with.
TYPE_NAMES = {0: "NULL", 1: "INT64", 2: "BOOLEAN", 3: "STRING", 4: "DOUBLE", 5: "POINT", 8: "USER", 12: "REFERENCE"}


def is_metadata(kind: Optional[str]) -> bool:
    return kind in QUERYABLE or kind == ENTITY_GROUP


def check(query: Query, in_transaction: bool) -> None:
    """Refuse what App Engine refuses on a metadata query, with its messages."""
    if query.kind == ENTITY_GROUP:
        raise BadRequestError("queries not supported on " + ENTITY_GROUP)
    if in_transaction:
        raise BadRequestError('transactional queries on "%s" not allowed' % query.kind)
    if query.ancestor is not None and query.kind != PROPERTY:
        raise BadRequestError("ancestor queries on %s not allowed" % query.kind)
    filters = normalize_filters(query.filters)
    for f in filters:
        if f.name != KEY_PROPERTY or f.op not in INEQUALITY_OPERATORS + ("=",) or f.op == "!=":
            raise BadRequestError("Only comparison filters on %s supported" % KEY_PROPERTY)
        if not isinstance(f.value, Key):
            raise BadRequestError("%s kind must be compared to a key" % KEY_PROPERTY)
    if any(o.name != KEY_PROPERTY or o.descending for o in normalize_orders(filters, query.orders)):
        raise BadRequestError("Only ascending order on %s supported" % KEY_PROPERTY)


def _key(query: Query, *path: object) -> Key:
    pairs = tuple(zip(path[::2], path[1::2]))
    return Key.build(query.app or "", query.namespace, pairs)  # type: ignore[arg-type]


def kind_entities(query: Query, kinds: Iterable[str]) -> List[Entity]:
    return [Entity(_key(query, KIND, kind)) for kind in kinds]


def namespace_entities(query: Query, namespaces: Iterable[str]) -> List[Entity]:
    return [Entity(_key(query, NAMESPACE, ns or EMPTY_NAMESPACE_ID)) for ns in namespaces]


def property_entities(query: Query, entities: Iterable[Entity]) -> List[Entity]:
    """One pseudo-entity per (kind, indexed property) of `entities`, with its representations."""
    types: dict = {}
    for entity in entities:
        for prop in entity.properties.values():
            for value in prop.indexed_values():
                types.setdefault((entity.kind(), prop.name), set()).add(value_order(value.data)[0])
    out = []
    for (kind, name), tags in sorted(types.items()):
        representation = tuple(Value(TYPE_NAMES[t]) for t in sorted(tags))
        out.append(Entity(_key(query, KIND, kind, PROPERTY, name),
                          [Property("property_representation", representation, True)]))
    return out


def scoped(query: Query) -> Query:
    """The query as run over pseudo-entities (their keys carry the query's own app)."""
    return replace(query, app=None)


def entity_group_key(key: Key) -> Optional[Key]:
    """The root of an `__entity_group__` key, or None when `key` is not one."""
    if len(key.path) == 2 and key.path[1] == (ENTITY_GROUP, 1):
        return key.root()
    return None


def entity_group(key: Key, version: int) -> Optional[Entity]:
    """The `__entity_group__` pseudo-entity for a group at `version` (None: never written)."""
    if not version:
        return None
    return Entity(key, [Property(VERSION_PROPERTY, (Value(version),))])
