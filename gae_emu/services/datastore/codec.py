"""The datastore's own lossless serialization: entities in SQLite rows, and query cursors.

Values are JSON `[tag, payload]` pairs so every App Engine type survives the round trip (a str
stays a str, bytes stay bytes, a datetime keeps its microseconds, a Key stays a Key); a stored value
adds its meaning and index flag. Paths are JSON too, and `path_text` is the primary key of a row.
Cursors are the urlsafe base64 of the JSON of the last result's position.

Imports: the standard library, `.entities`, `.errors`, `.keys`.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
from typing import Any, List, Optional, Tuple

from gae_emu.services.datastore.entities import (
    Entity, GeoPt, Property, UserValue, Value, datetime_to_usec, usec_to_datetime,
)
from gae_emu.services.datastore.errors import BadRequestError
from gae_emu.services.datastore.keys import Key, Path


def encode_data(data: Any) -> List[Any]:
    if data is None:
        return ["n", None]
    if isinstance(data, bool):
        return ["b", data]
    if isinstance(data, int):
        return ["i", data]
    if isinstance(data, float):
        return ["f", repr(data)]  # repr keeps every bit, and inf/nan, which JSON cannot
    if isinstance(data, str):
        return ["s", str(data)]
    if isinstance(data, bytes):
        return ["y", base64.b64encode(data).decode("ascii")]
    if isinstance(data, datetime.datetime):
        return ["d", datetime_to_usec(data)]
    if isinstance(data, Key):
        return ["k", [data.app(), data.namespace(), path_to_json(data.path)]]
    if isinstance(data, GeoPt):
        return ["g", [repr(data.lat), repr(data.lon)]]
    if isinstance(data, UserValue):
        return ["u", dataclasses.asdict(data)]
    raise TypeError("cannot serialize %r" % (data,))


def decode_data(item: List[Any]) -> Any:
    tag, payload = item
    if tag in ("n", "b", "i", "s"):
        return payload
    if tag == "f":
        return float(payload)
    if tag == "y":
        return base64.b64decode(payload)
    if tag == "d":
        return usec_to_datetime(payload)
    if tag == "k":
        app, namespace, path = payload
        return Key.build(app, namespace, path_from_json(path))
    if tag == "g":
        return GeoPt(float(payload[0]), float(payload[1]))
    if tag == "u":
        return UserValue(**payload)
    raise ValueError("unknown value tag %r" % (tag,))


# One encoder for every row and path text: json.dumps with arguments builds a new one per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_FRAGMENT_TYPES = (type(None), bool, int, float, str, bytes, datetime.datetime, Key)


def value_fragments(data: Any) -> Optional[List[str]]:
    """Texts one of which the stored row of any entity holding a value equal to `data` (in App
    Engine's value order) contains: what lets a query skip rows without decoding them. None when
    no such texts can be given (points, users: their stored form holds more than what compares)."""
    if not isinstance(data, _FRAGMENT_TYPES):
        return None
    forms = [data]
    if isinstance(data, (str, bytes)):  # a str and its UTF-8 bytes are equal in value order
        try:
            forms.append(data.encode("utf-8") if isinstance(data, str) else data.decode("utf-8"))
        except (UnicodeError, AttributeError):
            pass
    # A stored value is its encode_data pair followed by meaning and index flag: `["s","x",0,true]`.
    return [_COMPACT.encode(encode_data(f))[:-1] + "," for f in forms]


def path_to_json(path: Path) -> List[List[Any]]:
    return [[kind, id_or_name] for kind, id_or_name in path]


def path_from_json(items: List[List[Any]]) -> Path:
    return tuple((kind, id_or_name) for kind, id_or_name in items)


def path_text(path: Path) -> str:
    return _COMPACT.encode(path_to_json(path))


def key_from_row(app: str, namespace: str, text: str) -> Key:
    """The key of a stored row (the inverse of `path_text`)."""
    return Key.build(app, namespace, path_from_json(json.loads(text)))


def encode_entity(entity: Entity) -> str:
    props = [
        [p.name, p.multiple, [encode_data(v.data) + [v.meaning, v.indexed] for v in p.values]]
        for p in entity.properties.values()
    ]
    return _COMPACT.encode({"p": props})


def decode_entity(key: Key, text: str) -> Entity:
    props = []
    for name, multiple, values in json.loads(text)["p"]:
        decoded = tuple(Value(decode_data([tag, payload]), meaning, indexed)
                        for tag, payload, meaning, indexed in values)
        props.append(Property(name, decoded, multiple))
    return Entity(key, props)


def encode_cursor(position: Tuple[Any, ...], descending: bool) -> str:
    """`position`: the order-property values of the last result, then its key; `descending`: the
    direction of the query's first order (a cursor is a point *after* that result in it)."""
    body = {"d": descending, "p": [encode_data(v) for v in position]}
    text = json.dumps(body, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> Tuple[Tuple[Any, ...], bool]:
    """(position, descending) of a cursor made by `encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode("utf-8"))
        return tuple(decode_data(item) for item in body["p"]), bool(body["d"])
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise BadRequestError("Invalid cursor %r: %s" % (cursor, e)) from None
