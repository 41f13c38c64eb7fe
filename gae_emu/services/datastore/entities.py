"""Entities and their typed property values, as App Engine's EntityProto models them.

An `Entity` is a key plus named `Property`s; a property holds one `Value` (or several, when
`multiple`), and each value keeps what EntityProto keeps: its Python type (None, int, bool, float,
str, bytes, datetime, Key, GeoPt, UserValue), its `meaning` (TEXT vs a plain string, BLOB vs BYTESTRING, GD_WHEN for a
datetime, ...) and whether it is `indexed`. Nothing is lost between a put and a get, so a wire
front end can hand the same entity back to Google's library byte for byte.

`value_order` is App Engine's cross-type order (the order of PropertyValue's fields, as Google's
stub computes it in `datastore_types.PropertyValueToKeyValue`): null < integers and datetimes <
booleans < byte and unicode strings < doubles < points < users < keys. Doubles sort by their IEEE
bytes made sortable, so -0.0 sorts before 0.0 and NaN after +inf, as the index stores them.

Imports: the standard library, `.errors`, `.keys`.
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import struct
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from gae_emu.services.datastore.errors import BadValueError
from gae_emu.services.datastore.keys import Key

_EPOCH = datetime.datetime(1970, 1, 1)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class Meaning(enum.IntEnum):
    """`Property.Meaning` of entity.proto."""

    NO_MEANING = 0
    ATOM_CATEGORY = 1
    ATOM_LINK = 2
    ATOM_TITLE = 3
    ATOM_CONTENT = 4
    ATOM_SUMMARY = 5
    ATOM_AUTHOR = 6
    GD_WHEN = 7
    GD_EMAIL = 8
    GEORSS_POINT = 9
    GD_IM = 10
    GD_PHONENUMBER = 11
    GD_POSTALADDRESS = 12
    GD_RATING = 13
    BLOB = 14
    TEXT = 15
    BYTESTRING = 16
    BLOBKEY = 17
    INDEX_VALUE = 18
    ENTITY_PROTO = 19
    EMPTY_LIST = 24


# A stored meaning bit: the bytes are zlib-compressed (ndb `compressed=True`), what datastore_v3
# says with `meaning_uri: "ZLIB"` and Cloud Datastore v1 with meaning 22. Far above every meaning.
ZLIB_FLAG = 1 << 20


class Text(str):
    """A long unicode string: never indexed (meaning TEXT)."""


class Blob(bytes):
    """A long byte string: never indexed (meaning BLOB)."""


class ByteString(bytes):
    """A short, indexed byte string (meaning BYTESTRING)."""


@dataclass(frozen=True, eq=False)
class GeoPt:
    """A geographical point (PropertyValue.pointvalue: x = latitude, y = longitude).

    Kept as sent, as Google's stub keeps it: range checks are the client library's (`check()`).
    Equal to any GeoPt (subclasses too, such as `gae_emu.ext.db.GeoPt`) at the same place.
    """

    lat: float
    lon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lat", float(self.lat))
        object.__setattr__(self, "lon", float(self.lon))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeoPt):
            return NotImplemented
        return (self.lat, self.lon) == (other.lat, other.lon)

    def __hash__(self) -> int:
        return hash((self.lat, self.lon))

    def check(self) -> "GeoPt":
        """This point, or BadValueError when it is off the globe (datastore_types.GeoPt's rule)."""
        if math.isnan(self.lat) or not -90 <= self.lat <= 90:
            raise BadValueError("Latitude must be between -90 and 90; received %r" % (self.lat,))
        if math.isnan(self.lon) or not -180 <= self.lon <= 180:
            raise BadValueError("Longitude must be between -180 and 180; received %r" % (self.lon,))
        return self

    def __str__(self) -> str:
        return "%s,%s" % (self.lat, self.lon)


@dataclass(frozen=True)
class UserValue:
    """A user as the datastore stores it (PropertyValue.uservalue); None = field absent.

    `user_id` is the wire's `obfuscated_gaiaid`; the service derives it from the email on every
    write and query, as Google's stub does (`SynthesizeUserId`), so a user filters equal to itself
    whatever id the client sent.
    """

    email: str
    auth_domain: str = "gmail.com"
    nickname: Optional[str] = None
    gaiaid: int = 0
    user_id: Optional[str] = None
    federated_identity: Optional[str] = None
    federated_provider: Optional[str] = None

    def __str__(self) -> str:
        return self.email

    def sort_key(self) -> Tuple[Tuple[int, Any], ...]:
        """Present fields as (field number, value), as the stub orders users."""
        fields = ((9, self.email), (10, self.auth_domain), (11, self.nickname), (18, self.gaiaid),
                  (19, self.user_id), (21, self.federated_identity), (22, self.federated_provider))
        return tuple(f for f in fields if f[1] is not None)


# Types whose values App Engine never indexes, and the meaning each type implies.
_UNINDEXED_TYPES = (Text, Blob)
_TYPE_MEANINGS: Tuple[Tuple[type, Meaning], ...] = (
    (Text, Meaning.TEXT), (Blob, Meaning.BLOB), (ByteString, Meaning.BYTESTRING),
    (datetime.datetime, Meaning.GD_WHEN), (GeoPt, Meaning.GEORSS_POINT),
)
_MEANING_TYPES = {Meaning.TEXT: Text, Meaning.BLOB: Blob, Meaning.BYTESTRING: ByteString}


def datetime_to_usec(value: datetime.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def usec_to_datetime(usec: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=usec)


def normalize_data(name: str, data: Any) -> Any:
    """Check one raw value's type; datetimes become naive UTC as App Engine stores them."""
    if data is None or isinstance(data, (bool, float, str, bytes)):
        return data
    if isinstance(data, int):
        if not _INT64_MIN <= data <= _INT64_MAX:
            raise BadValueError("Property %s must fit in 64 bits" % name)
        return data
    if isinstance(data, datetime.datetime):
        if data.tzinfo is not None:
            data = data.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return data
    if isinstance(data, Key):
        if not data.has_id_or_name():
            raise BadValueError("Incomplete key found for reference property %s." % name)
        return data
    if isinstance(data, GeoPt):
        return data
    if isinstance(data, UserValue):
        from gae_emu.services.users import user_id_for  # the one derivation of a dev user id

        return dataclasses.replace(data, user_id=user_id_for(data.email))
    raise BadValueError("Unsupported type for property %s: %s" % (name, type(data).__name__))


def with_user_ids(entity: "Entity") -> "Entity":
    """`entity` with every user value's id derived from its email (what a write stores)."""
    if not any(isinstance(v.data, UserValue) for p in entity.properties.values() for v in p.values):
        return entity
    return Entity(entity.key, (dataclasses.replace(p, values=tuple(
        dataclasses.replace(v, data=normalize_data(p.name, v.data)) if isinstance(v.data, UserValue) else v
        for v in p.values)) for p in entity.properties.values()))


@dataclass(frozen=True)
class Value:
    """One property value with its App Engine meaning and index flag."""

    data: Any
    meaning: int = 0
    indexed: bool = True

    def typed(self) -> Any:
        """The value as App Engine's Python API returns it (Text, Blob, ByteString wrappers)."""
        wrapper = _MEANING_TYPES.get(self.meaning)  # type: ignore[call-overload]
        if wrapper is not None and isinstance(self.data, (str, bytes)) and isinstance(self.data, wrapper.__mro__[1]):
            return wrapper(self.data)
        return self.data


def make_value(name: str, data: Any, indexed: bool = True, meaning: Optional[int] = None) -> Value:
    """A Value, its meaning inferred from the Python type unless given."""
    if meaning is None:
        meaning = next((int(m) for t, m in _TYPE_MEANINGS if isinstance(data, t)), 0)
    if isinstance(data, _UNINDEXED_TYPES):
        indexed = False
    return Value(normalize_data(name, data), int(meaning), bool(indexed))


@dataclass(frozen=True)
class Property:
    """A named property: one value, or a list of values (`multiple`)."""

    name: str
    values: Tuple[Value, ...]
    multiple: bool = False

    def typed(self) -> Any:
        if self.multiple:
            return [v.typed() for v in self.values]
        return self.values[0].typed() if self.values else None

    def indexed_values(self) -> List[Value]:
        return [v for v in self.values if v.indexed]


def make_property(name: str, value: Any, indexed: bool = True, meaning: Optional[int] = None) -> Property:
    if isinstance(value, (list, tuple)):
        return Property(name, tuple(make_value(name, v, indexed, meaning) for v in value), True)
    return Property(name, (make_value(name, value, indexed, meaning),), False)


class Entity:
    """A key and its properties, in insertion order."""

    __slots__ = ("key", "properties")

    def __init__(self, key: Key, properties: Iterable[Property] = ()) -> None:
        self.key = key
        self.properties: Dict[str, Property] = {p.name: p for p in properties}

    @classmethod
    def from_values(cls, key: Key, values: Dict[str, Any], unindexed: Iterable[str] = ()) -> "Entity":
        """An entity from plain Python values, meanings inferred from their types."""
        skip = set(unindexed)
        return cls(key, (make_property(n, v, n not in skip) for n, v in values.items()))

    def kind(self) -> Optional[str]:
        return self.key.kind()

    def set(self, name: str, value: Any, indexed: bool = True, meaning: Optional[int] = None) -> None:
        self.properties[name] = make_property(name, value, indexed, meaning)

    def __getitem__(self, name: str) -> Any:
        return self.properties[name].typed()

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        del self.properties[name]

    def __contains__(self, name: object) -> bool:
        return name in self.properties

    def __iter__(self) -> Iterator[str]:
        return iter(self.properties)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.properties else default

    def to_dict(self) -> Dict[str, Any]:
        return {name: prop.typed() for name, prop in self.properties.items()}

    def with_key(self, key: Key) -> "Entity":
        return Entity(key, self.properties.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entity):
            return NotImplemented
        return self.key == other.key and self.properties == other.properties

    def __repr__(self) -> str:
        return "Entity(%r, %r)" % (self.key, self.to_dict())


def _sortable_double(value: float) -> bytes:
    """A double's big-endian bytes, negated when negative, so bytes order is numeric order."""
    raw = bytearray(struct.pack(">d", value))
    if raw[0] & 0x80:
        return bytes(b ^ 0xFF for b in raw)
    raw[0] ^= 0x80
    return bytes(raw)


def value_order(data: Any) -> Tuple[Any, ...]:
    """A sort key placing any two values in App Engine's order (see the module docstring).

    The first item is the PropertyValue field number that holds the value on the wire.
    """
    if data is None:
        return (0,)
    if isinstance(data, bool):
        return (2, int(data))
    if isinstance(data, int):
        return (1, data)
    if isinstance(data, datetime.datetime):
        return (1, datetime_to_usec(data))  # stored as an int64, so it sorts among integers
    if isinstance(data, str):
        return (3, data.encode("utf-8"))
    if isinstance(data, bytes):
        return (3, bytes(data))
    if isinstance(data, float):
        return (4, _sortable_double(data))
    if isinstance(data, GeoPt):
        return (5, data.lat, data.lon)
    if isinstance(data, UserValue):
        return (8, data.sort_key())
    if isinstance(data, Key):
        return (12, data.sort_key())
    raise BadValueError("Unsupported type for comparison: %s" % type(data).__name__)
