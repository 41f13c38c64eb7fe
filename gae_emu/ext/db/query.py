"""`db.Query`: `Model.all()` with `filter`, `order`, `ancestor`, `fetch`, `count`, `get`, cursors.

It describes the query in the service's terms (`gae_emu.services.datastore.Query`) and turns the
entities that come back into model instances. Filter strings are App Engine's: `'prop op'` with op
one of `< <= > >= = == != in` (`'prop'` alone means `=`).

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.services.datastore`, `.errors`,
`.model`, `.transactions`.
"""
from __future__ import annotations

import datetime
import re
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Type

from gae_emu import apiproxy
from gae_emu.api import users
from gae_emu.ext.db.errors import BadArgumentError, BadQueryError, BadValueError, NotSavedError, PropertyError
from gae_emu.ext.db.expando import Expando
from gae_emu.ext.db.model import Model, class_for_kind
from gae_emu.ext.db.properties import _date_to_datetime, _time_to_datetime
from gae_emu.ext.db.special import user_value
from gae_emu.ext.db.transactions import current_transaction, datastore
from gae_emu.services.datastore import KEY_PROPERTY, Filter, Key, Order
from gae_emu.services.datastore.query import INEQUALITY_OPERATORS
from gae_emu.services.datastore import Query as ServiceQuery

_OPERATORS = ["<", "<=", ">", ">=", "=", "==", "!=", "in"]
_FILTER_REGEX = re.compile(r"^\s*([^\s]+)(\s+(%s)\s*)?$" % "|".join(_OPERATORS), re.IGNORECASE | re.UNICODE)
_DEFAULT_COUNT_LIMIT = 1000


def _normalize_parameter(value: Any) -> Any:
    if isinstance(value, Model):
        return value.key()
    if isinstance(value, users.User):
        return user_value(value)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return _date_to_datetime(value)
    if isinstance(value, datetime.time):
        return _time_to_datetime(value)
    return value


class Query:
    """A datastore query over one model class (or kindless, with `model_class=None`)."""

    def __init__(self, model_class: Optional[Type[Model]] = None, keys_only: bool = False,
                 cursor: Optional[str] = None, namespace: Optional[str] = None, _app: Optional[str] = None,
                 distinct: bool = False, projection: Optional[Sequence[str]] = None) -> None:
        self._model_class = model_class
        self._keys_only = keys_only
        self._projection = tuple(projection or ())
        self._distinct = bool(distinct)
        if self._distinct and not self._projection:
            raise BadQueryError("cannot specify distinct without a projection")
        for name in self._projection:
            if model_class is not None and name in model_class._unindexed_properties:
                raise PropertyError("Property '%s' is not indexed" % name)
        self._namespace = namespace
        self._app = _app
        self._filters: List[Filter] = []
        self._orders: List[Order] = []
        self._ancestor: Optional[Key] = None
        self._cursor: Optional[str] = cursor
        self._end_cursor: Optional[str] = None
        self._last_cursor: Optional[str] = None

    def is_keys_only(self) -> bool:
        return self._keys_only

    def projection(self) -> Optional[Tuple[str, ...]]:
        return self._projection or None

    def is_distinct(self) -> bool:
        return self._distinct

    def filter(self, property_operator: str, value: Any) -> "Query":
        match = _FILTER_REGEX.match(property_operator)
        if match is None:
            raise BadQueryError("Invalid filter: %s" % property_operator)
        prop, op = match.group(1), (match.group(3) or "=").lower()
        if self._model_class is None:
            if prop != KEY_PROPERTY:
                raise BadQueryError("Only %s filters are allowed on kindless queries." % KEY_PROPERTY)
        elif prop in self._model_class._unindexed_properties:
            raise PropertyError("Property '%s' is not indexed" % prop)
        if op in ("in", "!=") and self._keys_only:
            # App Engine's db runs these as several queries merged client-side, never keys-only.
            raise BadQueryError("Keys only queries do not support %s filters." % ("IN" if op == "in" else op))
        if op == "in":
            if not isinstance(value, (list, tuple)):
                raise BadValueError('Argument to the "in" operator must be a list')
            value = [_normalize_parameter(v) for v in value]
        elif isinstance(value, (list, tuple)):
            raise BadValueError("Filtering on lists is not supported")
        else:
            value = _normalize_parameter(value)
        self._filters.append(Filter(prop, "=" if op == "==" else op, value))
        return self

    def order(self, property: str) -> "Query":
        descending = property.startswith("-")
        name = property[1:] if descending else property
        if self._model_class is None:
            if name != KEY_PROPERTY or descending:
                raise BadQueryError("Only %s ascending orders are supported on kindless queries" % KEY_PROPERTY)
        else:
            if name not in self._model_class._all_properties and name != KEY_PROPERTY \
                    and not issubclass(self._model_class, Expando):
                raise PropertyError("Invalid property name '%s'" % name)
            if name in self._model_class._unindexed_properties:
                raise PropertyError("Property '%s' is not indexed" % name)
        self._orders.append(Order(name, descending))
        return self

    def ancestor(self, ancestor: Any) -> "Query":
        if isinstance(ancestor, Key):
            if not ancestor.has_id_or_name():
                raise NotSavedError()
            self._ancestor = ancestor
        elif isinstance(ancestor, Model):
            if not ancestor.has_key():
                raise NotSavedError()
            self._ancestor = ancestor.key()
        else:
            raise TypeError("ancestor should be Key or Model")
        return self

    def with_cursor(self, start_cursor: Optional[str] = None, end_cursor: Optional[str] = None) -> "Query":
        self._cursor, self._end_cursor = start_cursor, end_cursor
        return self

    def cursor(self) -> str:
        if self._last_cursor is None:
            raise AssertionError("No cursor available.")
        return self._last_cursor

    def _check_first_order(self) -> None:
        """db's own check, made before the datastore normalizes orders (so it is stricter)."""
        inequality = next((f.name for f in self._filters if f.op in INEQUALITY_OPERATORS), None)
        if inequality is not None and self._orders and self._orders[0].name != inequality:
            raise BadArgumentError("First ordering property must be the same as inequality filter property, if "
                                   "specified for this query; received %s, expected %s"
                                   % (self._orders[0].name, inequality))

    def _service_query(self, limit: Optional[int], offset: int, keys_only: bool) -> ServiceQuery:
        self._check_first_order()
        namespace = self._namespace
        if namespace is None:
            namespace = self._ancestor.namespace() if self._ancestor is not None else ""
        return ServiceQuery(
            kind=self._model_class.kind() if self._model_class is not None else None,
            namespace=namespace, app=self._app or apiproxy.current().app_id, ancestor=self._ancestor,
            filters=list(self._filters), orders=list(self._orders), keys_only=keys_only,
            limit=limit, offset=offset, start_cursor=self._cursor, end_cursor=self._end_cursor,
            projection=self._projection, group_by=self._projection if self._distinct else ())

    def _to_model(self, entity: Any) -> Any:
        cls = self._model_class or class_for_kind(entity.kind())
        return cls.from_entity(entity, self._projection) if self._projection else cls.from_entity(entity)

    def run(self, limit: Optional[int] = None, offset: int = 0, keys_only: Optional[bool] = None,
            **kwargs: Any) -> Iterator[Any]:
        """Iterate over the results (models, or keys for a keys-only query)."""
        keys_only = self._keys_only if keys_only is None else keys_only
        result = datastore().run_query(self._service_query(limit, offset, keys_only), current_transaction())
        self._last_cursor = result.cursor
        if keys_only:
            return iter(result.keys)
        return iter([self._to_model(e) for e in result.entities])

    def __iter__(self) -> Iterator[Any]:
        return self.run()

    def fetch(self, limit: Optional[int], offset: int = 0, **kwargs: Any) -> List[Any]:
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise BadArgumentError("Argument to fetch must be a non-negative integer or None; received %r" % (limit,))
        return list(self.run(limit=limit, offset=offset, **kwargs))

    def get(self, **kwargs: Any) -> Any:
        results = self.fetch(1, **kwargs)
        return results[0] if results else None

    def count(self, limit: Optional[int] = _DEFAULT_COUNT_LIMIT, **kwargs: Any) -> int:
        return datastore().count(self._service_query(limit, 0, True), current_transaction())

    def __getitem__(self, arg: Any) -> Any:
        if isinstance(arg, slice):
            start, stop = arg.start or 0, arg.stop
            if stop is None:
                raise ValueError("Open-ended slices are not supported")
            if start < 0 or stop < 0 or arg.step not in (None, 1):
                raise ValueError("Only slices with start>=0, stop>=0, step==1 are supported")
            return self.fetch(max(stop - start, 0), start)
        if isinstance(arg, int):
            if arg < 0:
                raise ValueError("Only indices >= 0 are supported")
            results = self.fetch(1, arg)
            if not results:
                raise IndexError("The query returned fewer than %d results" % (arg + 1))
            return results[0]
        raise TypeError("Only integer indices and slices are supported")
