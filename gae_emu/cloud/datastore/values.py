"""Cloud Datastore v1 keys, values and entities <-> the service's `Key`, `Value` and `Entity`.

Project and database map to the service's app id as production maps them: project `p` is the app
`dev~p` (what `gae-emu dev` and the bundled APIs call it), so both APIs address the same entities;
a named database `d` is the app `dev~p/d` (a `/` never occurs in an app id). Going out, the
partition prefix (`dev~`, `s~`) is dropped.

Values keep what the bundled API reads: a timestamp is a datetime (meaning GD_WHEN), a blob is a
byte string (BYTESTRING when indexed, else BLOB; meaning 22, Cloud NDB's compressed bytes, is
the service's ZLIB bit, what bundled ndb's `compressed=True` writes), a point a `GeoPt`, a user (an `entity_value` with
meaning 20, as Cloud NDB writes one) a `UserValue`, an array a multiple property; an explicit v1
`meaning` is kept. An embedded entity is kept as its v1 bytes under a private meaning bit, readable
through this API only (docs/cloud-datastore.md).

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import datetime
from typing import Any, Optional, Tuple

from gae_emu.cloud.datastore.errors import invalid
from gae_emu.cloud.datastore.protos import pb
from gae_emu.services.datastore import Entity, GeoPt, Key, Meaning, Property, UserValue, Value
from gae_emu.services.datastore.entities import ZLIB_FLAG, datetime_to_usec, usec_to_datetime

APP_PREFIX = "dev~"
MEANING_USER = 20  # Cloud NDB's _MEANING_PREDEFINED_ENTITY_USER
MEANING_COMPRESSED = 22  # Cloud NDB's _MEANING_COMPRESSED: zlib bytes (the service's ZLIB_FLAG)
EMBEDDED_V1 = 1 << 21  # a private meaning bit: the value is a serialized v1 Entity
# Meanings the v1 value type already says; not repeated on the way out.
_IMPLIED = {Meaning.GD_WHEN, Meaning.GEORSS_POINT, Meaning.BLOB, Meaning.BYTESTRING, Meaning.INDEX_VALUE}
_USER_FIELDS = ("email", "auth_domain", "user_id", "federated_identity", "federated_provider")
_MAX_INT64 = (1 << 63) - 1


# -- partitions and keys --------------------------------------------------------------------------

def app_for(project: str, database: str = "") -> str:
    return f"{APP_PREFIX}{project}/{database}" if database else APP_PREFIX + project


def project_of(app: str) -> Tuple[str, str]:
    """(project, database) of a service app id."""
    bare = app.split("~", 1)[-1]
    project, _, database = bare.partition("/")
    return project, database


def key_from_pb(message: Any, project: str, database: str, where: str) -> Key:
    """A v1 Key as the service's Key (incomplete when its last element has no id or name)."""
    partition = message.partition_id
    if partition.project_id and partition.project_id != project:
        raise invalid(f"{where}.partition_id.project_id: {partition.project_id!r} does not match the "
                      f"request's project {project!r}")
    if partition.database_id and partition.database_id != database:
        raise invalid(f"{where}.partition_id.database_id: {partition.database_id!r} does not match the "
                      f"request's database {database!r}")
    if not message.path:
        raise invalid(f"{where}: a key must have at least one path element")
    path = []
    last = len(message.path) - 1
    for i, element in enumerate(message.path):
        if not element.kind:
            raise invalid(f"{where}.path[{i}].kind: the kind must not be empty")
        which = element.WhichOneof("id_type")
        if which == "name":
            if not element.name:
                raise invalid(f"{where}.path[{i}].name: the name must not be empty")
            path.append((element.kind, element.name))
        elif which == "id" and element.id:
            if element.id < 0:
                raise invalid(f"{where}.path[{i}].id: ids must be positive; received {element.id}")
            path.append((element.kind, element.id))
        elif i != last:
            raise invalid(f"{where}.path[{i}]: only the last path element may lack an id or name")
        else:
            path.append((element.kind, None))
    return Key.build(app_for(project, database), partition.namespace_id, path)


def key_to_pb(key: Key, message: Any) -> Any:
    project, database = project_of(key.app())
    message.partition_id.project_id = project
    if database:
        message.partition_id.database_id = database
    if key.namespace():
        message.partition_id.namespace_id = key.namespace()
    for kind, id_or_name in key.path:
        element = message.path.add(kind=kind)
        if isinstance(id_or_name, str):
            element.name = id_or_name
        elif id_or_name:
            element.id = id_or_name
    return message


def complete_key(key: Key, where: str) -> Key:
    if not key.has_id_or_name():
        raise invalid(f"{where}: the key is incomplete (its last path element has neither id nor name)")
    return key


# -- values ---------------------------------------------------------------------------------------

def data_from_pb(v: Any, project: str, database: str, where: str) -> Tuple[Any, int]:
    """The raw data of a non-array v1 Value and the meaning its type implies."""
    which = v.WhichOneof("value_type")
    meaning = v.meaning
    if which is None or which == "null_value":
        return None, meaning
    if which in ("boolean_value", "integer_value", "double_value", "string_value"):
        return getattr(v, which), meaning
    if which == "blob_value":
        if meaning == MEANING_COMPRESSED:
            return bytes(v.blob_value), Meaning.BLOB | ZLIB_FLAG
        return bytes(v.blob_value), meaning or (Meaning.BLOB if v.exclude_from_indexes else Meaning.BYTESTRING)
    if which == "timestamp_value":
        usec = v.timestamp_value.seconds * 1_000_000 + v.timestamp_value.nanos // 1000
        return usec_to_datetime(usec), meaning or Meaning.GD_WHEN
    if which == "key_value":
        return complete_key(key_from_pb(v.key_value, project, database, where + ".key_value"), where), meaning
    if which == "geo_point_value":
        return GeoPt(v.geo_point_value.latitude, v.geo_point_value.longitude), meaning or Meaning.GEORSS_POINT
    if which == "entity_value":
        if meaning == MEANING_USER:
            fields = {name: p.string_value for name, p in v.entity_value.properties.items() if name in _USER_FIELDS}
            if "email" not in fields:
                raise invalid(f"{where}.entity_value: a user value (meaning 20) needs an email property")
            return UserValue(**fields), 0
        return v.entity_value.SerializeToString(), meaning | EMBEDDED_V1
    raise invalid(f"{where}: array_value cannot contain another array_value")


def property_from_pb(name: str, v: Any, project: str, database: str, where: str) -> Property:
    if v.WhichOneof("value_type") == "array_value":
        if v.exclude_from_indexes:
            raise invalid(f"{where}: exclude_from_indexes cannot be set on an array value; set it on "
                          "the array's values")
        values = []
        for i, item in enumerate(v.array_value.values):
            data, meaning = data_from_pb(item, project, database, f"{where}.array_value.values[{i}]")
            values.append(Value(data, int(meaning), not item.exclude_from_indexes))
        return Property(name, tuple(values), True)
    data, meaning = data_from_pb(v, project, database, where)
    return Property(name, (Value(data, int(meaning), not v.exclude_from_indexes),), False)


def query_data_from_pb(v: Any, project: str, database: str, where: str) -> Any:
    """A filter's value (an array is a tuple of values, for IN and NOT_IN)."""
    if v.WhichOneof("value_type") == "array_value":
        return tuple(data_from_pb(item, project, database, f"{where}.array_value.values[{i}]")[0]
                     for i, item in enumerate(v.array_value.values))
    return data_from_pb(v, project, database, where)[0]


def value_to_pb(value: Value, message: Any) -> None:
    data, meaning = value.data, value.meaning
    if not value.indexed:
        message.exclude_from_indexes = True
    if meaning & ZLIB_FLAG:
        message.meaning = MEANING_COMPRESSED
    elif meaning and meaning not in _IMPLIED and not meaning & EMBEDDED_V1:
        message.meaning = meaning
    if data is None:
        message.null_value = 0
    elif isinstance(data, bool):
        message.boolean_value = data
    elif isinstance(data, int):
        message.integer_value = data
    elif isinstance(data, float):
        message.double_value = data
    elif isinstance(data, str):
        message.string_value = data
    elif isinstance(data, bytes):
        if meaning & EMBEDDED_V1:
            message.entity_value.ParseFromString(data)
            if meaning & ~EMBEDDED_V1:
                message.meaning = meaning & ~EMBEDDED_V1
        else:
            message.blob_value = data
    elif isinstance(data, datetime.datetime):
        usec = datetime_to_usec(data)
        message.timestamp_value.seconds, micros = divmod(usec, 1_000_000)
        message.timestamp_value.nanos = micros * 1000
    elif isinstance(data, Key):
        key_to_pb(data, message.key_value)
    elif isinstance(data, GeoPt):
        message.geo_point_value.latitude, message.geo_point_value.longitude = data.lat, data.lon
    elif isinstance(data, UserValue):
        message.meaning = MEANING_USER
        for name in _USER_FIELDS:
            field = getattr(data, name)
            if field is not None:
                message.entity_value.properties[name].string_value = field
    else:  # pragma: no cover - the service stores no other type
        raise TypeError(f"no v1 value for {data!r}")


# -- entities -------------------------------------------------------------------------------------

def entity_from_pb(message: Any, project: str, database: str, where: str) -> Entity:
    if not message.HasField("key"):
        raise invalid(f"{where}.key: an entity needs a key")
    key = key_from_pb(message.key, project, database, where + ".key")
    props = []
    for name, v in message.properties.items():
        if not name:
            raise invalid(f"{where}.properties: a property name must not be empty")
        props.append(property_from_pb(name, v, project, database, f"{where}.properties[{name!r}]"))
    return Entity(key, props)


def entity_to_pb(entity: Entity, message: Any, keys_only: bool = False) -> Any:
    key_to_pb(entity.key, message.key)
    if keys_only:
        return message
    for name, prop in entity.properties.items():
        target = message.properties[name]
        if prop.multiple:
            target.array_value.SetInParent()
            for value in prop.values:
                value_to_pb(value, target.array_value.values.add())
        elif prop.values:
            value_to_pb(prop.values[0], target)
        else:
            target.null_value = 0
    return message


def timestamp(seconds: float, message: Optional[Any] = None) -> Any:
    message = message if message is not None else pb().Timestamp()
    usec = int(seconds * 1_000_000)
    message.seconds, micros = divmod(usec, 1_000_000)
    message.nanos = micros * 1000
    return message

