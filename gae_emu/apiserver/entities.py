"""EntityProto and Reference (Google's `entity_bytes_pb2` messages) <-> gae-emu's `Entity` and `Key`.

The mapping is lossless for what ndb and db write, so an entity put through `/rpc_http` comes back
byte for byte, and `gae_emu.ext.db` reads the same entity as typed values:

- indexed values go to `EntityProto.property`, unindexed ones to `raw_property`; a name's values keep
  their order, and names keep the order of first appearance (ndb and db write each name's values
  together, so re-encoding gives the same bytes);
- `meaning` and `multiple` are kept per value/property; an int64 with meaning GD_WHEN becomes a
  datetime (App Engine's microseconds since the epoch), a string with a byte meaning (BLOB,
  BYTESTRING, ENTITY_PROTO) stays bytes, any other string becomes `str` when it is UTF-8;
- `meaning_uri: "ZLIB"` (ndb `compressed=True`) survives as the `ZLIB_MEANING_FLAG` bit of the stored
  meaning: `gae_emu.ext.db` then reads the raw compressed bytes, as App Engine's db does;
- a reference value is a `Key` (incomplete ones too); the entity group is always the key's root.

- a point is a `GeoPt` (x = latitude, y = longitude); a user is a `UserValue` with every field the
  client sent (the service derives its `obfuscated_gaiaid` from the email, as Google's stub does).

Not supported (refused with BAD_REQUEST, never silently dropped): `meaning_uri`s other than ZLIB. EntityProto's `owner`, `kind` and `kind_uri` and Property `stashed`/`computed`
(unused by ndb and db) are ignored.

Imports: the standard library, `gae_emu.services.datastore`, this package's `protos`.
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Tuple

from gae_emu.apiserver.protos import pb
from gae_emu.services.datastore import (
    BadRequestError, Entity, GeoPt, Key, Meaning, Property, UserValue, Value,
)
from gae_emu.services.datastore.entities import ZLIB_FLAG, datetime_to_usec, usec_to_datetime

ZLIB_MEANING_FLAG = ZLIB_FLAG  # the service's compressed bit (Cloud Datastore's meaning 22 too)
ZLIB_URI = "ZLIB"
BYTE_MEANINGS = {Meaning.BLOB, Meaning.BYTESTRING, Meaning.ENTITY_PROTO}
# UserValue's optional wire fields, and the UserValue attribute each one fills.
_USER_FIELDS = {"nickname": "nickname", "obfuscated_gaiaid": "user_id",
                "federated_identity": "federated_identity", "federated_provider": "federated_provider"}


# -- keys -----------------------------------------------------------------------------------------

def _elements_to_path(elements: Any) -> Tuple[Tuple[str, Any], ...]:
    path = []
    for element in elements:
        if element.HasField("name"):
            path.append((element.type, element.name))
        elif element.HasField("id") and element.id:
            path.append((element.type, element.id))
        else:
            path.append((element.type, None))
    return tuple(path)


def _fill_elements(add: Any, path: Tuple[Tuple[str, Any], ...]) -> None:
    for kind, id_or_name in path:
        element = add()
        element.type = kind
        if isinstance(id_or_name, str):
            element.name = id_or_name
        elif id_or_name is not None:
            element.id = id_or_name


def key_from_pb(reference: Any) -> Key:
    """A Reference message as a Key (incomplete when its last element has no id or name)."""
    return Key.build(reference.app, reference.name_space, _elements_to_path(reference.path.element))


def key_to_pb(key: Key, reference: Optional[Any] = None) -> Any:
    """Fill (or create) a Reference message for `key`."""
    reference = reference if reference is not None else pb().entity.Reference()
    reference.app = key.app()
    if key.namespace():
        reference.name_space = key.namespace()
    reference.path.SetInParent()
    _fill_elements(reference.path.element.add, key.path)
    return reference


# -- values ---------------------------------------------------------------------------------------

def value_from_pb(prop: Any, indexed: bool) -> Value:
    """One Property message as a Value (its meaning, index flag and typed data)."""
    meaning = prop.meaning if prop.HasField("meaning") else 0
    if prop.HasField("meaning_uri"):
        if prop.meaning_uri != ZLIB_URI:
            raise BadRequestError(f"property {prop.name}: meaning_uri {prop.meaning_uri!r} is not supported by gae-emu")
        meaning |= ZLIB_MEANING_FLAG
    v = prop.value
    data: Any = None
    if v.HasField("int64Value"):
        data = v.int64Value
        if meaning == Meaning.GD_WHEN:
            try:
                data = usec_to_datetime(data)
            except OverflowError:  # outside datetime's years: keep the raw number, still lossless
                pass
    elif v.HasField("booleanValue"):
        data = v.booleanValue
    elif v.HasField("stringValue"):
        data = v.stringValue
        if meaning & ~ZLIB_MEANING_FLAG not in BYTE_MEANINGS:
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
    elif v.HasField("doubleValue"):
        data = v.doubleValue
    elif v.HasField("referencevalue"):
        ref = v.referencevalue
        data = Key.build(ref.app, ref.name_space, _elements_to_path(ref.pathelement))
    elif v.HasField("pointvalue"):
        data = GeoPt(v.pointvalue.x, v.pointvalue.y)
    elif v.HasField("uservalue"):
        u = v.uservalue
        optional = {attr: getattr(u, field) if u.HasField(field) else None for field, attr in _USER_FIELDS.items()}
        data = UserValue(u.email, u.auth_domain, gaiaid=u.gaiaid, **optional)
    # Value() directly, not make_value(): the wire's meaning and flags are kept as they came.
    return Value(data, meaning, indexed)


def _fill_value(prop: Any, name: str, multiple: bool, value: Value) -> None:
    prop.name = name
    prop.multiple = multiple
    meaning = value.meaning & ~ZLIB_MEANING_FLAG
    if meaning:
        prop.meaning = meaning
    if value.meaning & ZLIB_MEANING_FLAG:
        prop.meaning_uri = ZLIB_URI
    out = prop.value
    out.SetInParent()  # a null value is an empty PropertyValue, which must still be present
    data = value.data
    if data is None:
        return
    if isinstance(data, bool):
        out.booleanValue = data
    elif isinstance(data, int):
        out.int64Value = data
    elif isinstance(data, datetime.datetime):
        out.int64Value = datetime_to_usec(data)
    elif isinstance(data, float):
        out.doubleValue = data
    elif isinstance(data, str):
        out.stringValue = data.encode("utf-8")
    elif isinstance(data, bytes):
        out.stringValue = bytes(data)
    elif isinstance(data, Key):
        ref = out.referencevalue
        ref.app = data.app()
        if data.namespace():
            ref.name_space = data.namespace()
        _fill_elements(ref.pathelement.add, data.path)
    elif isinstance(data, GeoPt):
        out.pointvalue.x, out.pointvalue.y = data.lat, data.lon
    elif isinstance(data, UserValue):
        user = out.uservalue
        user.email, user.auth_domain, user.gaiaid = data.email, data.auth_domain, data.gaiaid
        for field, attr in _USER_FIELDS.items():
            if getattr(data, attr) is not None:
                setattr(user, field, getattr(data, attr))
    else:
        raise BadRequestError(f"property {name}: cannot send a {type(data).__name__} value")


def property_to_pb(prop: Any, name: str, value: Any, multiple: bool = False) -> Any:
    """Fill a Property message from a plain value (for query filters built in tests and handlers)."""
    _fill_value(prop, name, multiple, value if isinstance(value, Value) else Value(value))
    return prop


# -- entities -------------------------------------------------------------------------------------

def entity_from_pb(message: Any) -> Entity:
    """An EntityProto as an Entity; the entity group is not kept (it is always the key's root)."""
    grouped: Dict[str, Tuple[bool, List[Value]]] = {}
    for props, indexed in ((message.property, True), (message.raw_property, False)):
        for prop in props:
            multiple, values = grouped.setdefault(prop.name, (prop.multiple, []))
            values.append(value_from_pb(prop, indexed))
            if prop.multiple and not multiple:
                grouped[prop.name] = (True, values)
    key = key_from_pb(message.key)
    return Entity(key, (Property(name, tuple(values), multiple) for name, (multiple, values) in grouped.items()))


def entity_to_pb(entity: Entity, message: Optional[Any] = None, keys_only: bool = False) -> Any:
    """Fill (or create) an EntityProto for `entity`; `keys_only` leaves the properties out."""
    message = message if message is not None else pb().entity.EntityProto()
    key_to_pb(entity.key, message.key)
    message.entity_group.SetInParent()
    if entity.key.has_id_or_name():
        _fill_elements(message.entity_group.element.add, entity.key.path[:1])
    if keys_only:
        return message
    for prop in entity.properties.values():
        for value in prop.values:
            target = message.property if value.indexed else message.raw_property
            _fill_value(target.add(), prop.name, prop.multiple, value)
    return message


def query_value(prop: Any) -> Any:
    """The plain value a query filter's Property message compares with."""
    return value_from_pb(prop, True).data
