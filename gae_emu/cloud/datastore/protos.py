"""Google's published Cloud Datastore v1 message classes (google-cloud-datastore), as raw protobuf.

The proto-plus wrappers are for clients; the front door works on the underlying protobuf classes
(`Wrapper.pb()`), which parse and serialize at C speed. Imported lazily so gae-emu runs without the
`[cloud]` extra; `available()` says whether it is installed.

Imports: the standard library; google-cloud-datastore when called.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any


def available() -> bool:
    """True when the `[cloud]` extra (google-cloud-datastore, grpcio) is installed."""
    try:
        import grpc  # noqa: F401
        from google.cloud.datastore_v1.types import datastore  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def pb() -> Any:
    """A namespace of the raw message classes by their proto name (`pb().LookupRequest`, ...)."""
    from google.cloud.datastore_v1.types import aggregation_result, datastore, entity, query

    classes = {}
    for module in (datastore, entity, query, aggregation_result):
        for name in dir(module):
            wrapper = getattr(module, name)
            if hasattr(wrapper, "pb") and hasattr(wrapper, "meta"):
                try:
                    classes[name] = wrapper.pb()
                except TypeError:
                    continue
    from google.protobuf import struct_pb2, timestamp_pb2

    classes["Timestamp"] = timestamp_pb2.Timestamp
    classes["NullValue"] = struct_pb2.NullValue
    return SimpleNamespace(**classes)
