"""`db.metadata`: the helpers of App Engine's `google.appengine.ext.db.metadata`.

`get_namespaces`, `get_kinds`, `get_properties_of_kind`, `get_representations_of_kind` (each with
an optional `start`/`end` key range, `end` exclusive) and `get_entity_group_version`, answered by
the datastore service's `__namespace__`, `__kind__`, `__property__` and `__entity_group__`
pseudo-kinds, the same ones Google's library reaches through the API server.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.services.datastore`, `.model`,
`.transactions`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from gae_emu import apiproxy
from gae_emu.ext.db.model import Model
from gae_emu.ext.db.transactions import current_transaction, datastore
from gae_emu.services.datastore import KEY_PROPERTY, Filter, Key, Query
from gae_emu.services.datastore.metadata import EMPTY_NAMESPACE_ID, ENTITY_GROUP, KIND, NAMESPACE, PROPERTY


def _key(*path: Any, namespace: str = "") -> Key:
    return Key.build(apiproxy.current().app_id, namespace, tuple(zip(path[::2], path[1::2])))


def _range(start: Optional[Key], end: Optional[Key]) -> List[Filter]:
    filters = []
    if start is not None:
        filters.append(Filter(KEY_PROPERTY, ">=", start))
    if end is not None:
        filters.append(Filter(KEY_PROPERTY, "<", end))
    return filters


def _run(kind: str, filters: Sequence[Filter], namespace: str = "", ancestor: Optional[Key] = None,
         keys_only: bool = True) -> List[Any]:
    query = Query(kind=kind, namespace=namespace, app=apiproxy.current().app_id, ancestor=ancestor,
                  filters=tuple(filters), keys_only=keys_only)
    return datastore().run_query(query).entities


def get_namespaces(start: Optional[str] = None, end: Optional[str] = None) -> List[str]:
    """The app's namespaces with entities ('' for the default one), in order."""
    start_key = _key(NAMESPACE, start or EMPTY_NAMESPACE_ID) if start is not None else None
    end_key = _key(NAMESPACE, end or EMPTY_NAMESPACE_ID) if end is not None else None
    entities = _run(NAMESPACE, _range(start_key, end_key))
    return [e.key.name() or "" for e in entities]


def get_kinds(start: Optional[str] = None, end: Optional[str] = None, namespace: str = "") -> List[str]:
    """The kinds with entities in `namespace`, in order."""
    def bound(kind: Optional[str]) -> Optional[Key]:
        return _key(KIND, kind, namespace=namespace) if kind else None

    return [e.key.name() for e in _run(KIND, _range(bound(start), bound(end)), namespace)]


def _properties(kind: str, start: Optional[str], end: Optional[str], namespace: str,
                keys_only: bool) -> List[Any]:
    def bound(name: Optional[str]) -> Optional[Key]:
        return _key(KIND, kind, PROPERTY, name, namespace=namespace) if name else None

    return _run(PROPERTY, _range(bound(start), bound(end)), namespace, _key(KIND, kind, namespace=namespace),
                keys_only)


def get_properties_of_kind(kind: str, start: Optional[str] = None, end: Optional[str] = None,
                           namespace: str = "") -> List[str]:
    """The indexed properties of `kind`, in order."""
    return [e.key.name() for e in _properties(kind, start, end, namespace, True)]


def get_representations_of_kind(kind: str, start: Optional[str] = None, end: Optional[str] = None,
                                namespace: str = "") -> Dict[str, List[str]]:
    """Each indexed property of `kind` and the value types it holds ('INT64', 'STRING', ...)."""
    return {e.key.name(): list(e["property_representation"])
            for e in _properties(kind, start, end, namespace, False)}


def get_entity_group_version(entity_or_key: Any) -> Optional[int]:
    """The version of the entity group of `entity_or_key`: it rises with every committed write to
    the group (None when the group was never written). Inside a transaction, as the transaction saw it."""
    key = entity_or_key.key() if isinstance(entity_or_key, Model) else entity_or_key
    if isinstance(key, str):
        key = Key(key)
    root: Tuple[Tuple[str, Any], ...] = key.root().path
    group_key = Key.build(key.app(), key.namespace(), root + ((ENTITY_GROUP, 1),))
    (entity,) = datastore().get([group_key], current_transaction())
    return entity["__version__"] if entity is not None else None
