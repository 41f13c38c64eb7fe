"""A hypothesis strategy for any protobuf message: fields filled from their descriptors with
hostile values (empty and huge strings, invalid UTF-8 bytes, 64-bit edge integers, unknown enum
numbers), nested messages a few levels deep. Used by the API server fuzz targets."""
from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor as F
from hypothesis import strategies as st

INT64 = st.one_of(st.integers(-(2 ** 63), 2 ** 63 - 1),
                  st.sampled_from([0, -1, 1, 2 ** 63 - 1, -(2 ** 63), 2 ** 53, 2 ** 62, 2 ** 31]))
UINT64 = st.one_of(st.integers(0, 2 ** 64 - 1), st.sampled_from([0, 2 ** 64 - 1, 2 ** 63, 2 ** 63 - 1]))
INT32 = st.integers(-(2 ** 31), 2 ** 31 - 1)
UINT32 = st.integers(0, 2 ** 32 - 1)
TEXT = st.one_of(st.sampled_from(["", "default", "Kind", "__key__", "__kind__", "a" * 1600, "\x00", "é"]),
                 st.text(max_size=24))
BYTES = st.one_of(st.sampled_from([b"", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"Kind", b"x" * 2000]),
                  st.binary(max_size=24), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))
DOUBLE = st.floats(allow_nan=True, allow_infinity=True)

_SCALARS = {
    F.TYPE_INT64: INT64, F.TYPE_SINT64: INT64, F.TYPE_SFIXED64: INT64,
    F.TYPE_UINT64: UINT64, F.TYPE_FIXED64: UINT64,
    F.TYPE_INT32: INT32, F.TYPE_SINT32: INT32, F.TYPE_SFIXED32: INT32,
    F.TYPE_UINT32: UINT32, F.TYPE_FIXED32: UINT32,
    F.TYPE_BOOL: st.booleans(), F.TYPE_DOUBLE: DOUBLE, F.TYPE_FLOAT: st.floats(width=32),
    F.TYPE_BYTES: BYTES,
}


def _value(field: Any, depth: int) -> st.SearchStrategy:
    if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
        return messages(field.message_type._concrete_class, depth + 1)
    if field.type == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.sampled_from([0, 999, -1]))
    if field.type == F.TYPE_STRING:
        return TEXT.filter(lambda t: t.encode("utf-8", "surrogatepass") == t.encode("utf-8", "ignore"))
    return _SCALARS[field.type]


@st.composite
def _build(draw: Any, cls: type, depth: int) -> Any:
    message = cls()
    fields = list(cls.DESCRIPTOR.fields)
    chosen = draw(st.lists(st.sampled_from(fields), max_size=min(6, len(fields)), unique_by=lambda f: f.number)) \
        if fields else []
    if depth < 2:  # near the top, fill required fields more often so requests get past parsing
        chosen += [f for f in fields if _required(f) and f not in chosen and draw(st.booleans())]
    for field in chosen:
        if depth >= 4 and field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
            continue
        try:
            if _repeated(field):
                for item in draw(st.lists(_value(field, depth), max_size=3)):
                    _append(message, field, item)
            elif field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
                getattr(message, field.name).CopyFrom(draw(_value(field, depth)))
            else:
                setattr(message, field.name, draw(_value(field, depth)))
        except (ValueError, TypeError):  # a value the Python runtime itself refuses to hold
            continue
    return message


def _repeated(field: Any) -> bool:
    return getattr(field, "is_repeated", None) if hasattr(field, "is_repeated") else field.label == F.LABEL_REPEATED


def _required(field: Any) -> bool:
    return getattr(field, "is_required", None) if hasattr(field, "is_required") else field.label == F.LABEL_REQUIRED


def _append(message: Any, field: Any, item: Any) -> None:
    container = getattr(message, field.name)
    if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
        container.add().CopyFrom(item)
    else:
        container.append(item)


def messages(cls: type, depth: int = 0) -> st.SearchStrategy:
    return _build(cls, depth)


def serialized(cls: type) -> st.SearchStrategy:
    """Serialized messages; partial (required fields missing) ones included, as a client could send."""
    return messages(cls).map(lambda m: m.SerializePartialToString())


def mutated(data: st.SearchStrategy) -> st.SearchStrategy:
    """Byte-level damage on top of well-formed encodings: flips, truncations, insertions."""
    @st.composite
    def damage(draw: Any) -> bytes:
        raw = bytearray(draw(data))
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            at = draw(st.integers(0, len(raw)))
            if op == "flip" and raw:
                raw[min(at, len(raw) - 1)] = draw(st.integers(0, 255))
            elif op == "cut":
                del raw[at:at + draw(st.integers(1, 8))]
            else:
                raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        return bytes(raw)
    return damage()
