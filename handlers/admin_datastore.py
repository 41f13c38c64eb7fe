"""What the admin console does with the datastore: list namespaces, kinds and entities, describe an
entity's typed values, and edit or delete one. Pages and the JSON API both call these functions.

Editing works on simple typed values: each property is given as text plus a type name (`str`,
`text`, `int`, `float`, `bool`, `datetime`, `key`, `null`), parsed here; list, byte-string and blob
values are shown but not editable. A property keeps its indexed flag when edited.

Imports: the standard library, werkzeug.exceptions, `gae_emu.apiproxy`, `gae_emu.services.datastore`.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from werkzeug.exceptions import BadRequest, NotFound

from gae_emu import apiproxy
from gae_emu.services.datastore import Entity, Key, Meaning, Text, Value
from gae_emu.services.datastore.errors import Error as DatastoreError

EDITABLE_TYPES = ("str", "text", "int", "float", "bool", "datetime", "key", "null")
MAX_PAGE = 200
_BYTES_TYPES: Dict[int, str] = {Meaning.BLOB: "blob", Meaning.BYTESTRING: "bytestring"}


def _datastore() -> Any:
    return apiproxy.current().datastore


def value_type(value: Value) -> str:
    data = value.data
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "bool"
    if isinstance(data, int):
        return "int"
    if isinstance(data, float):
        return "float"
    if isinstance(data, datetime.datetime):
        return "datetime"
    if isinstance(data, Key):
        return "key"
    if isinstance(data, str):
        return "text" if value.meaning == Meaning.TEXT else "str"
    if isinstance(data, bytes):
        return _BYTES_TYPES.get(value.meaning, "bytes")
    return type(data).__name__


def value_text(value: Value) -> str:
    """The value as the edit form shows it, and as `parse_value` reads it back."""
    data = value.data
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, datetime.datetime):
        return data.isoformat()
    if isinstance(data, bytes):
        return repr(data[:1000]) + (" ..." if len(data) > 1000 else "")
    return str(data)


def _json_value(value: Value) -> Any:
    data = value.data
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    return value_text(value)


def entity_dict(entity: Entity) -> Dict[str, Any]:
    key = entity.key
    properties = []
    for name, prop in entity.properties.items():
        if prop.multiple:
            properties.append({"name": name, "type": "list", "multiple": True, "editable": False,
                               "indexed": any(v.indexed for v in prop.values),
                               "value": [_json_value(v) for v in prop.values],
                               "text": "[" + ", ".join(value_text(v) for v in prop.values) + "]"})
            continue
        value = prop.values[0]
        kind = value_type(value)
        properties.append({"name": name, "type": kind, "multiple": False, "editable": kind in EDITABLE_TYPES,
                           "indexed": value.indexed, "value": _json_value(value), "text": value_text(value)})
    parent = key.parent()
    return {
        "key": str(key),
        "kind": key.kind(),
        "id": key.id(),
        "name": key.name(),
        "namespace": key.namespace(),
        "app": key.app(),
        "parent": str(parent) if parent is not None else None,
        "path": [[kind, id_or_name] for kind, id_or_name in key.path],
        "properties": properties,
    }


# -- listing ------------------------------------------------------------------------------------------


def namespaces() -> List[str]:
    return _datastore().namespaces()


def kinds(namespace: str = "") -> List[str]:
    return _datastore().kinds(namespace)


def entities(kind: str, namespace: str = "", offset: int = 0, limit: int = 20) -> Dict[str, Any]:
    if not kind:
        raise BadRequest("Name a kind (?kind=...).")
    offset, limit = max(0, offset), max(1, min(MAX_PAGE, limit))
    page, total = _datastore().list_entities(kind, namespace, offset, limit)
    return {"kind": kind, "namespace": namespace, "offset": offset, "limit": limit, "total": total,
            "entities": [entity_dict(e) for e in page]}


# -- one entity ---------------------------------------------------------------------------------------


def parse_key(urlsafe: str) -> Key:
    try:
        return Key(urlsafe)
    except DatastoreError as exc:
        raise BadRequest(f"Not an entity key: {exc}") from None


def get_entity(urlsafe: str) -> Entity:
    key = parse_key(urlsafe)
    (entity,) = _datastore().get([key])
    if entity is None:
        raise NotFound(f"No entity with key {urlsafe}.")
    return entity


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"{text!r} is not true or false")


_PARSERS: Dict[str, Callable[[str], Any]] = {
    "str": str,
    "text": Text,
    "int": lambda t: int(t.strip()),
    "float": lambda t: float(t.strip()),
    "bool": _parse_bool,
    "datetime": lambda t: datetime.datetime.fromisoformat(t.strip()),
    "key": lambda t: Key(t.strip()),
    "null": lambda t: None,
}


def parse_value(type_name: str, text: str) -> Any:
    parser = _PARSERS.get(type_name)
    if parser is None:
        raise BadRequest(f"Type {type_name!r} cannot be edited here (use one of {', '.join(EDITABLE_TYPES)}).")
    try:
        return parser(text)
    except (ValueError, DatastoreError) as exc:
        raise BadRequest(f"Not a valid {type_name}: {exc}") from None


def edit_entity(urlsafe: str, values: Mapping[str, Any], types: Optional[Mapping[str, str]] = None) -> Entity:
    """Set the named properties from text (JSON scalars are accepted too) and store the entity.

    A property's type is `types[name]` when given, else the type it has now (str for a new one)."""
    entity = get_entity(urlsafe)
    types = types or {}
    for name, raw in values.items():
        current = entity.properties.get(name)
        if current is not None and current.multiple:
            raise BadRequest(f"Property {name!r} holds a list; lists cannot be edited here.")
        old = current.values[0] if current is not None else None
        type_name = types.get(name) or (value_type(old) if old is not None else "str")
        text = raw if isinstance(raw, str) else ("" if raw is None else _scalar_text(raw))
        data = parse_value(type_name, text)
        try:
            entity.set(name, data, indexed=old.indexed if old is not None else True)
        except DatastoreError as exc:
            raise BadRequest(str(exc)) from None
    _datastore().put([entity])
    return entity


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float)):
        return repr(raw)
    raise BadRequest("Property values must be strings, numbers, booleans or null.")


def delete_entity(urlsafe: str) -> Dict[str, Any]:
    key = get_entity(urlsafe).key
    _datastore().delete([key])
    return {"deleted": str(key)}


# -- GQL ----------------------------------------------------------------------------------------------

MAX_GQL_RESULTS = 100


def gql_query(text: str, namespace: str = "") -> List[Entity]:
    """The entities a GQL SELECT returns (at most MAX_GQL_RESULTS), run by the same query engine as
    every API; the parser is the Cloud Datastore API's, so this needs the [cloud] extra."""
    from gae_emu.cloud.datastore import available

    if not available():
        raise BadRequest("The GQL box needs the [cloud] extra (pip install -e '.[cloud]' in gae-emu's checkout).")
    from gae_emu.cloud.datastore import gql, queries
    from gae_emu.cloud.datastore.errors import CloudError
    from gae_emu.cloud.datastore.protos import pb
    from gae_emu.cloud.datastore.values import project_of

    project, database = project_of(apiproxy.current().app_id)
    try:
        message = pb().GqlQuery(query_string=text, allow_literals=True)
        if gql.is_aggregation(message):
            raise BadRequest("Only SELECT queries run here (not AGGREGATE or COUNT).")
        v1 = gql.to_query(message, project, database, namespace)
        query, _ = queries.query_from_pb(v1, queries.Scope(project, database, namespace), "gql")
        if query.limit is None or query.limit > MAX_GQL_RESULTS:
            query = dataclasses.replace(query, limit=MAX_GQL_RESULTS)
        return list(_datastore().run_query(query).entities)
    except CloudError as exc:
        raise BadRequest(f"GQL: {exc}") from None
    except DatastoreError as exc:
        raise BadRequest(f"{type(exc).__name__}: {exc}") from None


# -- a new entity -------------------------------------------------------------------------------------


def create_entity(kind: str, namespace: str, name: str, properties: Sequence[Tuple[str, str, str]]) -> Entity:
    """Store a new entity of `kind` (named `name`, else with a fresh id) from (name, type, text)
    rows; an existing entity of that name is refused rather than overwritten."""
    if not kind.strip():
        raise BadRequest("A kind is needed.")
    key = Key.build(apiproxy.current().app_id, namespace, [(kind.strip(), name.strip() or None)])
    if name.strip() and _datastore().get([key])[0] is not None:
        raise BadRequest(f"An entity {kind}/{name} exists already; edit it instead.")
    entity = Entity(key)
    for prop, type_name, text in properties:
        if not prop.strip():
            continue
        if type_name not in EDITABLE_TYPES:
            raise BadRequest(f"type of {prop!r}: {type_name!r} is not one of {', '.join(EDITABLE_TYPES)}")
        try:
            entity.set(prop.strip(), parse_value(type_name, text))
        except DatastoreError as exc:
            raise BadRequest(str(exc)) from None
    try:
        (stored,) = _datastore().put([entity])
    except DatastoreError as exc:
        raise BadRequest(str(exc)) from None
    entity.key = stored
    return entity
