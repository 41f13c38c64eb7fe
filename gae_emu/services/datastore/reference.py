"""A tiny hand-written protobuf codec for App Engine's `Reference` message (entity.proto).

`str(key)` is the urlsafe base64 of a serialized `Reference`, '=' padding stripped, exactly as
`google.appengine.api.datastore_types.Key` produces it, so keys printed by gae-emu can be read
by Google's own library and vice versa. The message layout:

    message Reference { required string app = 13; optional string name_space = 20;
                        required Path path = 14; optional string database_id = 23; }
    message Path { repeated group Element = 1 { required string type = 2;
                                                 optional int64 id = 3; optional string name = 4; } }

Fields are written in field-number order (app, path, name_space), as the protobuf library does.

Imports: the standard library only.
"""
from __future__ import annotations

import base64
import binascii
from typing import List, Optional, Tuple, Union

IdOrName = Union[int, str, None]
Path = Tuple[Tuple[str, IdOrName], ...]

_VARINT, _LEN, _START_GROUP, _END_GROUP, _FIXED64, _FIXED32 = 0, 2, 3, 4, 1, 5


class DecodeError(ValueError):
    """The bytes are not a valid serialized Reference."""


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 negatives are ten-byte two's complement varints
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _string(field: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return _tag(field, _LEN) + _varint(len(data)) + data


def encode_path(path: Path) -> bytes:
    out = bytearray()
    for kind, id_or_name in path:
        out += _tag(1, _START_GROUP) + _string(2, kind)
        if isinstance(id_or_name, str):
            out += _string(4, id_or_name)
        elif id_or_name is not None:
            out += _tag(3, _VARINT) + _varint(id_or_name)
        out += _tag(1, _END_GROUP)
    return bytes(out)


def encode_reference(app: str, namespace: str, path: Path) -> bytes:
    path_bytes = encode_path(path)
    out = _string(13, app) + _tag(14, _LEN) + _varint(len(path_bytes)) + path_bytes
    if namespace:
        out += _string(20, namespace)
    return out


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise DecodeError("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise DecodeError("varint too long")
        return result - (1 << 64) if result >= 1 << 63 else result

    def tag(self) -> Tuple[int, int]:
        tag = self.varint()
        return tag >> 3, tag & 7

    def raw(self) -> bytes:
        size = self.varint()
        if size < 0 or self.pos + size > len(self.data):
            raise DecodeError("truncated field")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def text(self) -> str:
        try:
            return self.raw().decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(str(e)) from None

    def skip(self, wire_type: int) -> None:
        if wire_type == _VARINT:
            self.varint()
        elif wire_type == _LEN:
            self.raw()
        elif wire_type in (_FIXED64, _FIXED32):
            self.pos += 8 if wire_type == _FIXED64 else 4
        else:
            raise DecodeError("unexpected wire type %d" % wire_type)


def decode_path(data: bytes) -> Path:
    reader = _Reader(data)
    elements: List[Tuple[str, IdOrName]] = []
    while not reader.done():
        field, wire_type = reader.tag()
        if (field, wire_type) != (1, _START_GROUP):
            raise DecodeError("expected a Path.Element group")
        kind: Optional[str] = None
        id_or_name: IdOrName = None
        while True:
            field, wire_type = reader.tag()
            if (field, wire_type) == (1, _END_GROUP):
                break
            if field == 2 and wire_type == _LEN:
                kind = reader.text()
            elif field == 3 and wire_type == _VARINT:
                id_or_name = reader.varint() if not isinstance(id_or_name, str) else id_or_name
            elif field == 4 and wire_type == _LEN:
                id_or_name = reader.text()
            else:
                reader.skip(wire_type)
        if kind is None:
            raise DecodeError("Path.Element without a type")
        elements.append((kind, id_or_name or None))
    return tuple(elements)


def decode_reference(data: bytes) -> Tuple[str, str, Path]:
    reader = _Reader(data)
    app: Optional[str] = None
    namespace = ""
    path: Optional[Path] = None
    while not reader.done():
        field, wire_type = reader.tag()
        if field == 13 and wire_type == _LEN:
            app = reader.text()
        elif field == 14 and wire_type == _LEN:
            path = decode_path(reader.raw())
        elif field == 20 and wire_type == _LEN:
            namespace = reader.text()
        else:
            reader.skip(wire_type)
    if app is None or path is None:
        raise DecodeError("Reference lacks its required app or path")
    return app, namespace, path


def to_urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_urlsafe(text: Union[str, bytes]) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError) as e:
        raise DecodeError(str(e)) from None
