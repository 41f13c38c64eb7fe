"""Cloud Datastore v1 queries as the service's `Query`, and the service's results as a
`QueryResultBatch`.

Filters map to the service's operators: the filter tree becomes its disjunctive normal form (one
conjunction is the query's filters; several, from OR filters, its `any_of`), `HAS_ANCESTOR` is the
query's ancestor and `NOT_IN` is one `!=` per value (an index row passes when it equals none of
them, production's index scan). The query runs under the service's `cloud_rules` (inequalities on
several properties; Firestore's implicit order). `__key__` projected alone is a keys-only query; `distinct_on` is
the service's `group_by`. Cursors are the service's own cursor strings as bytes.

A batch holds at most MAX_BATCH results; the clients ask for the rest with `end_cursor`
(`more_results` NOT_FINISHED), as they do from production.

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, List, Optional, Tuple

from gae_emu.cloud.datastore.errors import CloudError, invalid
from gae_emu.cloud.datastore.values import app_for, entity_to_pb, query_data_from_pb
from gae_emu.services.datastore import KEY_PROPERTY, Filter, Order, Query, QueryResult

MAX_BATCH = 1000
MAX_DISJUNCTIONS = 30  # production's limit on a filter's disjunctive normal form
OPERATORS = {1: "<", 2: "<=", 3: ">", 4: ">=", 5: "=", 6: "in", 9: "!="}
HAS_ANCESTOR, NOT_IN = 11, 13
AND, OR = 1, 2
DESCENDING = 2
FULL, PROJECTION, KEY_ONLY = 1, 2, 3
NOT_FINISHED, MORE_RESULTS_AFTER_LIMIT, NO_MORE_RESULTS = 1, 2, 3


class Scope:
    """Where a request reads: its project, database and namespace (the partition)."""

    def __init__(self, project: str, database: str, namespace: str) -> None:
        self.project, self.database, self.namespace = project, database, namespace


def _cursor(raw: bytes, where: str) -> Optional[str]:
    if not raw:
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise invalid(f"{where}: not a cursor this datastore returned") from None


Conjunction = List[Filter]


def _dnf(message: Any, scope: Scope, where: str, ancestor: List[Any], top: bool) -> List[Conjunction]:
    """The filter tree in disjunctive normal form: a list of conjunctions (one, without ORs)."""
    which = message.WhichOneof("filter_type")
    if which == "composite_filter":
        composite = message.composite_filter
        if composite.op not in (AND, OR):
            raise invalid(f"{where}.composite_filter.op: unknown operator {composite.op}")
        if not composite.filters:
            raise invalid(f"{where}.composite_filter.filters: a composite filter needs at least one filter")
        parts = [_dnf(sub, scope, f"{where}.composite_filter.filters[{i}]", ancestor, top and composite.op == AND)
                 for i, sub in enumerate(composite.filters)]
        if composite.op == OR:
            out = [c for part in parts for c in part]
        else:
            out = [[]]
            for part in parts:
                out = [a + b for a in out for b in part]
        if len(out) > MAX_DISJUNCTIONS:
            raise invalid(f"{where}: the filter has {len(out)} disjunctions in normal form; at most "
                          f"{MAX_DISJUNCTIONS} are allowed")
        return out
    if which != "property_filter":
        raise invalid(f"{where}: a filter needs a composite_filter or a property_filter")
    f = message.property_filter
    name, here = f.property.name, f"{where}.property_filter"
    if not name:
        raise invalid(f"{here}.property.name: the property name must not be empty")
    value = query_data_from_pb(f.value, scope.project, scope.database, here + ".value")
    if f.op == HAS_ANCESTOR:
        if name != KEY_PROPERTY:
            raise invalid(f"{here}: HAS_ANCESTOR needs the property __key__; received {name!r}")
        if not hasattr(value, "has_id_or_name"):
            raise invalid(f"{here}.value: HAS_ANCESTOR needs a key value")
        if ancestor or not top:
            raise invalid(f"{here}: a query can have one HAS_ANCESTOR filter, outside any OR filter")
        ancestor.append(value)
        return [[]]
    if f.op in (6, NOT_IN) and not isinstance(value, tuple):
        raise invalid(f"{here}.value: IN and NOT_IN need an array value")
    if f.op == NOT_IN:
        if not value:
            raise invalid(f"{here}.value: NOT_IN needs at least one value")
        return [[Filter(name, "!=", v) for v in value]]
    op = OPERATORS.get(f.op)
    if op is None:
        raise invalid(f"{here}.op: unknown operator {f.op}")
    if op != "in" and isinstance(value, tuple):
        raise invalid(f"{here}.value: an array value needs the IN or NOT_IN operator")
    return [[Filter(name, op, value)]]


def query_from_pb(message: Any, scope: Scope, where: str = "query") -> Tuple[Query, int]:
    """The service's Query for a v1 Query, and the v1 result type it returns."""
    if message.HasField("find_nearest"):
        raise CloudError("UNIMPLEMENTED", f"{where}.find_nearest: vector search is not supported by gae-emu")
    if len(message.kind) > 1:
        raise invalid(f"{where}.kind: a query can name at most one kind")
    kind = message.kind[0].name if message.kind else None
    if message.kind and not kind:
        raise invalid(f"{where}.kind[0].name: the kind must not be empty")
    ancestor: List[Any] = []
    dnf = _dnf(message.filter, scope, where + ".filter", ancestor, True) if message.HasField("filter") else [[]]
    filters, any_of = (dnf[0], ()) if len(dnf) == 1 else ([], tuple(tuple(c) for c in dnf))
    projection = [p.property.name for p in message.projection]
    keys_only = projection == [KEY_PROPERTY]
    if KEY_PROPERTY in projection and not keys_only:
        raise invalid(f"{where}.projection: __key__ can only be projected alone")
    limit = message.limit.value if message.HasField("limit") else None
    if limit is not None and limit < 0:
        raise invalid(f"{where}.limit: must not be negative; received {limit}")
    if message.offset < 0:
        raise invalid(f"{where}.offset: must not be negative; received {message.offset}")
    query = Query(
        kind=kind,
        namespace=scope.namespace,
        app=app_for(scope.project, scope.database),
        ancestor=ancestor[0] if ancestor else None,
        filters=tuple(filters),
        orders=tuple(Order(o.property.name, o.direction == DESCENDING) for o in message.order),
        keys_only=keys_only,
        limit=limit,
        offset=message.offset,
        start_cursor=_cursor(message.start_cursor, where + ".start_cursor"),
        end_cursor=_cursor(message.end_cursor, where + ".end_cursor"),
        projection=() if keys_only else tuple(projection),
        group_by=tuple(p.name for p in message.distinct_on),
        any_of=any_of,
        cloud_rules=True,
    )
    result_type = KEY_ONLY if keys_only else PROJECTION if projection else FULL
    return query, result_type


def batch_query(query: Query) -> Query:
    """The query one batch runs: at most MAX_BATCH results."""
    limit = MAX_BATCH if query.limit is None else min(query.limit, MAX_BATCH)
    return replace(query, limit=limit)


def fill_batch(query: Query, result: QueryResult, result_type: int, versions: List[int], batch: Any) -> None:
    """Fill a QueryResultBatch from the service's result of `batch_query(query)`."""
    batch.entity_result_type = result_type
    batch.skipped_results = result.skipped_results
    keys_only = result_type == KEY_ONLY
    for i, (entity, version) in enumerate(zip(result.entities, versions)):
        item = batch.entity_results.add(version=version, cursor=result.cursor_after(i).encode("ascii"))
        entity_to_pb(entity, item.entity, keys_only=keys_only)
    if result.skipped_results and not result.entities and result.cursor:
        batch.skipped_cursor = result.cursor.encode("ascii")
    if result.cursor:
        batch.end_cursor = result.cursor.encode("ascii")
    if not result.more_results:
        batch.more_results = NO_MORE_RESULTS
    elif query.limit is not None and len(result.entities) >= query.limit:
        batch.more_results = MORE_RESULTS_AFTER_LIMIT
    else:
        batch.more_results = NOT_FINISHED

