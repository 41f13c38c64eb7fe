"""datastore_v3 queries: a `Query` message as the service's `Query`, and the batches of results
`RunQuery` and `Next` hand out.

Batches are re-executions, not snapshots: a server-side cursor (`Cursor.cursor`, a number) remembers
the query, where the last batch ended (the service's own cursor string) and how much of the limit is
left; `Next` runs the query again from there. Compiled cursors (ndb `Cursor`, `cursor_after`) carry
the service's cursor string in `CompiledCursor.position.start_key`, opaque to the client.

`count()` works as the client expects it: it sends `offset=2**31-1, limit=0` and reads
`skipped_results`.

Projection (`property_name`) and `group_by_property_name` (ndb's `distinct`) are the service's;
the first batch carries `QueryResult.index`, the composite index production would use (ndb's
`index_list()`). Not supported yet (BAD_REQUEST): the `distinct` flag, `shallow`, EXISTS and geo
filters. IN filters are usually split by the client; a server-side IN is honoured.

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Optional

from gae_emu.apiserver.entities import entity_to_pb, key_from_pb, query_value
from gae_emu.services.datastore import BadRequestError, CompositeIndex, Filter, Order, Query, QueryResult

DEFAULT_BATCH_SIZE = 20  # the dev stub's batch when the client names no count
MAX_OPEN_CURSORS = 1000
OPERATORS = {1: "<", 2: "<=", 3: ">", 4: ">=", 5: "=", 6: "in"}
ASCENDING, DESCENDING = 1, 2
READ_WRITE = 2  # CompositeIndex.State


@dataclass
class Batching:
    """What `Next` needs to continue a query."""

    query: Query  # offset already consumed
    remaining: Optional[int]  # of the client's limit; None = no limit
    txn_handle: Optional[int]
    compile: bool


def cursor_from_pb(compiled: Any) -> Optional[str]:
    if compiled.position.HasField("start_key"):
        try:
            return compiled.position.start_key.decode("ascii")
        except UnicodeDecodeError:  # cursors we hand out are ASCII; anything else is not ours
            raise BadRequestError("Invalid cursor (not one this datastore returned)") from None
    return None


def cursor_to_pb(cursor: Optional[str], compiled: Any) -> None:
    compiled.SetInParent()
    if cursor:
        compiled.position.start_key = cursor.encode("ascii")


def query_from_pb(message: Any) -> Query:
    """The service's Query for a `Query` message (limit and offset as given)."""
    unsupported = [name for name, present in (
        ("distinct", message.distinct),
        ("shallow", message.shallow),
    ) if present]
    if unsupported:
        raise BadRequestError(f"gae-emu does not support {', '.join(unsupported)} queries yet")
    filters = []
    for f in message.filter:
        op = OPERATORS.get(f.op)
        if op is None or not len(f.property):
            raise BadRequestError(f"gae-emu does not support query filter operator {f.op} yet")
        name = f.property[0].name
        value = tuple(query_value(p) for p in f.property) if op == "in" else query_value(f.property[0])
        filters.append(Filter(name, op, value))
    return Query(
        kind=message.kind or None,
        namespace=message.name_space,
        app=message.app or None,
        ancestor=key_from_pb(message.ancestor) if message.HasField("ancestor") else None,
        filters=tuple(filters),
        orders=tuple(Order(o.property, o.direction == DESCENDING) for o in message.order),
        keys_only=message.keys_only,
        limit=message.limit if message.HasField("limit") else None,
        offset=message.offset,
        start_cursor=cursor_from_pb(message.compiled_cursor) if message.HasField("compiled_cursor") else None,
        end_cursor=cursor_from_pb(message.end_compiled_cursor) if message.HasField("end_compiled_cursor") else None,
        projection=tuple(message.property_name),
        group_by=tuple(message.group_by_property_name),
    )


def index_to_pb(index: CompositeIndex, app: str, message: Any) -> None:
    """Fill a CompositeIndex message as Google's stub reports the index a query uses."""
    message.app_id, message.id, message.state = app, 0, READ_WRITE
    definition = message.definition
    definition.entity_type, definition.ancestor = index.kind, index.ancestor
    for prop in index.properties:
        definition.property.add(name=prop.name, direction=DESCENDING if prop.descending else ASCENDING)


class QueryBatches:
    """Runs batches through a `run(query, txn_handle) -> QueryResult` callable; keeps open cursors."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self._open: "OrderedDict[int, Batching]" = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def first(self, message: Any, txn_handle: Optional[int], result: Any) -> None:
        """RunQuery: fill the QueryResult message `result` with the first batch."""
        query = query_from_pb(message)
        count = message.count if message.HasField("count") else None
        state = Batching(replace(query, offset=0), query.limit, txn_handle, message.compile)
        found = self._batch(state, query.offset, count, message.app, result)
        if found.index is not None:
            index_to_pb(found.index, message.app, result.index.add())

    def next(self, message: Any, result: Any) -> None:
        """Next: the following batch of an open cursor."""
        with self._lock:
            state = self._open.pop(message.cursor.cursor, None)
        if state is None:
            raise BadRequestError("Cursor %d not found (the query ended or its cursor expired)" % message.cursor.cursor)
        state.compile = state.compile or message.compile
        count = message.count if message.HasField("count") else None
        self._batch(state, message.offset, count, message.cursor.app, result)

    def _batch(self, state: Batching, offset: int, count: Optional[int], app: str, result: Any) -> QueryResult:
        size = count if count is not None else DEFAULT_BATCH_SIZE
        if state.remaining is not None:
            size = min(size, state.remaining)
        found: QueryResult = self._run(replace(state.query, offset=offset, limit=size), state.txn_handle)
        if state.remaining is not None:
            state.remaining -= len(found.entities)
        more = found.more_results and (state.remaining is None or state.remaining > 0)
        state.query = replace(state.query, start_cursor=found.cursor)
        result.skipped_results = found.skipped_results
        result.keys_only = state.query.keys_only
        result.more_results = more
        for entity in found.entities:
            entity_to_pb(entity, result.result.add(), keys_only=state.query.keys_only)
        if state.compile:
            cursor_to_pb(found.cursor, result.compiled_cursor)
        if more:
            with self._lock:
                handle = next(self._ids)
                self._open[handle] = state
                while len(self._open) > MAX_OPEN_CURSORS:  # abandoned iterations must not pile up
                    self._open.popitem(last=False)
            result.cursor.cursor = handle
            result.cursor.app = app
        return found
