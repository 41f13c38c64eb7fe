"""Queries: their description, validation, and evaluation over candidate entities.

The service fetches candidates (by kind, or by entity group for an ancestor query) and this
module does the rest in Python, the way App Engine's indexes would answer: only indexed values
match or sort; a multi-valued property matches an equality filter if any value matches, the
inequality filters of the one inequality property must hold for a single value, and a sort uses the
smallest value ascending, the largest descending (among the values the filters let through);
entities lacking a filtered or sorted property are left out; an entity comes back once. Values
of different types compare in App Engine's cross-type order (`entities.value_order`).

The order is production's (`effective_orders`): the explicit orders, normalized as App Engine
normalizes them; without any, an inequality filter's property; then projected properties; then
the key. A projection reads index rows: an entity with a list property comes back once per
distinct value of each projected or sorted property, holding only the projected index values
(meaning INDEX_VALUE); `group_by` keeps the first row of each distinct combination.

A cursor is the point just after the last result (its order values and key, and the direction of
the first order); resuming returns what sorts after that point. Used with the reversed sort (as
App Engine allows), the same point is *before* that result, so the result comes back first.

Imports: the standard library, `.codec`, `.entities`, `.errors`, `.keys`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from gae_emu.services.datastore import codec
from gae_emu.services.datastore.entities import Entity, Meaning, Property, Value, normalize_data, value_order
from gae_emu.services.datastore.errors import BadRequestError
from gae_emu.services.datastore.keys import Key

KEY_PROPERTY = "__key__"
EQUALITY_OPERATORS = ("=", "in")
INEQUALITY_OPERATORS = ("<", "<=", ">", ">=", "!=")
_COMPARE: dict = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Filter:
    name: str
    op: str  # one of EQUALITY_OPERATORS or INEQUALITY_OPERATORS ("==" is accepted as "=")
    value: Any


@dataclass(frozen=True)
class Order:
    name: str
    descending: bool = False


@dataclass
class Query:
    """What to fetch. `app=None` matches any app in the database (one app per database anyway)."""

    kind: Optional[str] = None
    namespace: str = ""
    app: Optional[str] = None
    ancestor: Optional[Key] = None
    filters: Sequence[Filter] = ()
    orders: Sequence[Order] = ()
    keys_only: bool = False
    limit: Optional[int] = None
    offset: int = 0
    start_cursor: Optional[str] = None
    end_cursor: Optional[str] = None
    projection: Sequence[str] = ()  # property names; results hold only their index values
    group_by: Sequence[str] = ()  # one result per distinct combination of these (ndb's distinct)
    # Cloud Datastore (Firestore in Datastore mode) only: a result must also pass one of these
    # conjunctions (OR filters, in disjunctive normal form); and `cloud_rules` lifts the legacy
    # limits: inequalities on several properties, orders that need not start with one, and
    # non-ancestor queries inside transactions.
    any_of: Sequence[Sequence[Filter]] = ()
    cloud_rules: bool = False


@dataclass
class QueryResult:
    """One batch: `entities` (property-less when keys_only), where to resume, and what was skipped."""

    entities: List[Entity] = field(default_factory=list)
    cursor: Optional[str] = None
    more_results: bool = False
    skipped_results: int = 0
    keys_only: bool = False
    index: Any = None  # indexes.CompositeIndex production would scan, if any (set by the service)
    positions: List[Tuple[Any, ...]] = field(default_factory=list)  # each result's position
    descending: bool = False  # the direction of the query's first order (cursors record it)

    def cursor_after(self, i: int) -> str:
        """The cursor just after the i-th result (what `cursor` is for the last one)."""
        return codec.encode_cursor(self.positions[i], self.descending)

    @property
    def keys(self) -> List[Key]:
        return [e.key for e in self.entities]


class _Descending:
    """Reverses the order of a sort component."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "_Descending") -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value


def normalize_filters(filters: Iterable[Filter]) -> List[Filter]:
    """Operators in canonical form; an IN of one value is an equality (datastore_index.Normalize)."""
    out = []
    for f in filters:
        op = "=" if f.op == "==" else f.op.lower()
        if op not in _COMPARE and op != "in":
            raise BadRequestError("Unsupported query operator %r" % f.op)
        if op == "in":
            value = tuple(normalize_data(f.name, v) for v in f.value)
            if len(value) == 1:
                op, value = "=", value[0]
        else:
            value = normalize_data(f.name, f.value)
        out.append(Filter(f.name, op, value))
    return out


def normalize_orders(filters: List[Filter], orders: Iterable[Order]) -> List[Order]:
    """The orders that change the result, as App Engine reduces them before checking a query.

    An order on a property every result has one value for (an equality filter and no inequality)
    is dropped, as is a repeated order and everything after `__key__`; an equality filter on
    `__key__` leaves nothing to sort.
    """
    inequality = {f.name for f in filters if f.op in INEQUALITY_OPERATORS}
    fixed = {f.name for f in filters if f.op == "="} - inequality
    if KEY_PROPERTY in fixed:
        return []
    seen = set(fixed)
    out: List[Order] = []
    for order in orders:
        if order.name in seen:
            continue
        seen.add(order.name)
        out.append(order)
        if order.name == KEY_PROPERTY:
            break
    return out


def effective_orders(filters: List[Filter], orders: List[Order], exists: Sequence[str] = (),
                     cloud_rules: bool = False) -> List[Order]:
    """The order results come back in (datastore_stub_util._GuessOrders, production's index scan).

    Without an explicit order, an inequality filter's property sorts first (the index App Engine
    scans is ordered by it); then any projected property not already ordered, by name; then the key.
    Under Cloud Datastore's rules every inequality property not already ordered follows the explicit
    orders, by name (Firestore's implicit order).
    """
    out = list(orders)
    if cloud_rules:
        ordered = {o.name for o in out}
        out.extend(Order(name) for name in sorted({f.name for f in filters if f.op in INEQUALITY_OPERATORS} - ordered))
    elif not out:
        inequality = next((f for f in filters if f.op in INEQUALITY_OPERATORS), None)
        if inequality is not None:
            out.append(Order(inequality.name))
    ordered = {o.name for o in out}
    out.extend(Order(name) for name in sorted(set(exists) - ordered))
    if not out or out[-1].name != KEY_PROPERTY:
        out.append(Order(KEY_PROPERTY))
    return out


def validate(query: Query, filters: List[Filter], orders: List[Order], in_transaction: bool) -> None:
    """App Engine's checks (datastore_stub_util.CheckQuery), with its messages."""
    if in_transaction and query.ancestor is None and not query.cloud_rules:
        raise BadRequestError("Only ancestor queries are allowed inside transactions.")
    if query.ancestor is not None and query.ancestor.namespace() != query.namespace:
        raise BadRequestError("query namespace is %s but ancestor namespace is %s"
                              % (query.namespace, query.ancestor.namespace()))
    _validate_projection(query, filters, orders)
    if query.cloud_rules:
        _validate_kind(query, filters, orders)
        return
    inequality = None
    for f in filters:
        if f.op in INEQUALITY_OPERATORS:
            if inequality is None:
                inequality = f.name
            elif inequality != f.name:
                raise BadRequestError("Only one inequality filter per query is supported. "
                                      "Encountered both %s and %s" % (inequality, f.name))
    if inequality is not None and query.group_by and not orders and inequality not in query.group_by:
        raise BadRequestError("Inequality filter on %s must also be a group by property when group by "
                              "properties are set." % inequality)
    if inequality is not None and orders and orders[0].name != inequality:
        raise BadRequestError(
            "The first sort property must be the same as the property to which the inequality "
            "filter is applied.  In your query the first sort property is %s but the inequality "
            "filter is on %s" % (orders[0].name, inequality))
    _validate_kind(query, filters, orders)


def _validate_kind(query: Query, filters: List[Filter], orders: List[Order]) -> None:
    if query.kind is None:
        if any(f.name != KEY_PROPERTY for f in filters):
            raise BadRequestError("kind is required for non-__key__ filters")
        if any(o.name != KEY_PROPERTY or o.descending for o in orders):
            raise BadRequestError("kind is required for all orders except __key__ ascending")


IndexRow = Dict[str, List[Any]]  # property name -> the indexed values an index row holds


def _validate_projection(query: Query, filters: List[Filter], orders: List[Order]) -> None:
    projected = set(query.projection)
    if projected and query.keys_only:
        raise BadRequestError("projection and keys_only cannot both be set")
    for name in query.projection:
        if name.startswith("__") and name.endswith("__"):
            raise BadRequestError("projections are not supported for the property: " + name)
    if len(projected) != len(query.projection):
        raise BadRequestError("cannot project a property multiple times")
    if any(f.op == "=" and f.name in projected for f in filters):
        raise BadRequestError("cannot use projection on a property with an equality filter")
    remaining = set(query.group_by)
    for order in orders:
        if not remaining:
            break
        if order.name not in remaining:
            raise BadRequestError("items in the group by clause must be specified first in the ordering")
        remaining.discard(order.name)


def _index_row(entity: Entity) -> IndexRow:
    row: IndexRow = {KEY_PROPERTY: [entity.key]}
    for name, prop in entity.properties.items():
        values = [v.data for v in prop.indexed_values()]
        if values:
            row[name] = values
    return row


def _split(row: IndexRow, names: Sequence[str]) -> List[IndexRow]:
    """One row per combination of distinct values of `names` (a projection's index rows); none
    when the entity lacks one of them (it has no row in that index)."""
    rows = [row]
    for name in names:
        distinct = list({value_order(d): d for d in row.get(name, [])}.values())
        rows = [{**r, name: [d]} for r in rows for d in distinct]
    return rows


def _passes(data: Any, f: Filter) -> bool:
    if f.op == "in":
        return any(value_order(data) == value_order(v) for v in f.value)
    return _COMPARE[f.op](value_order(data), value_order(f.value))


_MISSING = object()


def _sort_component(row: IndexRow, order: Order, filters: List[Filter]) -> Any:
    """The value `order` sorts this row by, or _MISSING when the row has no usable value."""
    own = [f for f in filters if f.name == order.name and f.op in INEQUALITY_OPERATORS]
    values = [d for d in row.get(order.name, []) if all(_passes(d, f) for f in own)]
    if not values:
        return _MISSING
    pick = max if order.descending else min
    return pick(values, key=value_order)


def _matches(row: IndexRow, filters: List[Filter]) -> bool:
    by_name: dict = {}
    for f in filters:
        by_name.setdefault(f.name, []).append(f)
    for name, group in by_name.items():
        values = row.get(name, [])
        for f in group:
            if f.op in EQUALITY_OPERATORS and not any(_passes(d, f) for d in values):
                return False
        ranges = [f for f in group if f.op in INEQUALITY_OPERATORS]
        if ranges and not any(all(_passes(d, f) for f in ranges) for d in values):
            return False
    return True


def _sort_key(position: Sequence[Any], orders: List[Order]) -> Tuple[Any, ...]:
    return tuple(_Descending(value_order(v)) if o.descending else value_order(v)
                 for v, o in zip(position, orders))


def _projected(key: Key, row: IndexRow, names: Sequence[str]) -> Entity:
    """A projection result: the key and each projected property's one index value."""
    return Entity(key, [Property(name, (Value(row[name][0], Meaning.INDEX_VALUE),)) for name in names])


def _first_of_each_group(rows: List[Tuple[Any, ...]], names: Sequence[str]) -> List[Tuple[Any, ...]]:
    seen = set()
    out = []
    for r in rows:
        group = tuple(value_order(r[3][name][0]) if name in r[3] else None for name in names)
        if group not in seen:
            seen.add(group)
            out.append(r)
    return out


def run(query: Query, candidates: Iterable[Entity], in_transaction: bool = False) -> QueryResult:
    """Evaluate `query` over `candidates` (already narrowed to its kind or entity group)."""
    filters = normalize_filters(query.filters)
    branches = [normalize_filters(branch) for branch in query.any_of]
    every = filters + [f for branch in branches for f in branch]
    explicit = normalize_orders(filters, query.orders)
    validate(query, every, explicit, in_transaction)
    orders = effective_orders(every, explicit, query.projection, query.cloud_rules)
    split = [o.name for o in orders if o.name != KEY_PROPERTY] if query.projection else []
    rows: List[Tuple[Tuple[Any, ...], List[Any], Entity, IndexRow]] = []
    for entity in candidates:
        if not _in_scope(query, entity):
            continue
        for row in _split(_index_row(entity), split):
            if not _matches(row, filters) or (branches and not any(_matches(row, b) for b in branches)):
                continue
            position = [_sort_component(row, o, filters) for o in orders]
            if any(p is _MISSING for p in position):
                continue  # App Engine's index has no row for an entity lacking a sorted property
            rows.append((_sort_key(position, orders), position, entity, row))
    rows.sort(key=lambda r: r[0])
    if query.group_by:
        rows = _first_of_each_group(rows, query.group_by)
    descending = orders[0].descending
    if query.start_cursor:
        position, made_descending = codec.decode_cursor(query.start_cursor)
        start = _sort_key(position, orders)
        if made_descending == descending:
            rows = [r for r in rows if start < r[0]]
        else:  # the point lies before its row in this direction: the row comes back too
            rows = [r for r in rows if not r[0] < start]
    if query.end_cursor:
        position, made_descending = codec.decode_cursor(query.end_cursor)
        end = _sort_key(position, orders)
        if made_descending == descending:
            rows = [r for r in rows if not end < r[0]]
        else:
            rows = [r for r in rows if r[0] < end]
    skipped = min(max(query.offset, 0), len(rows))
    rest = rows[skipped:]
    taken = rest if query.limit is None else rest[:max(query.limit, 0)]
    last = taken[-1] if taken else (rows[skipped - 1] if skipped else None)
    cursor = codec.encode_cursor(tuple(last[1]), descending) if last else query.start_cursor
    if query.projection:
        entities = [_projected(r[2].key, r[3], query.projection) for r in taken]
    else:
        entities = [Entity(r[2].key) if query.keys_only else r[2] for r in taken]
    return QueryResult(entities, cursor, len(taken) < len(rest), skipped, query.keys_only,
                       positions=[tuple(r[1]) for r in taken], descending=descending)


def _in_scope(query: Query, entity: Entity) -> bool:
    key = entity.key
    if query.app is not None and key.app() != query.app:
        return False
    if key.namespace() != query.namespace:
        return False
    if query.kind is not None and key.kind() != query.kind:
        return False
    return query.ancestor is None or query.ancestor.is_ancestor_of(key)
