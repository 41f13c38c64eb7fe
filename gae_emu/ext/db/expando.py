"""`db.Expando`: a model whose instances carry properties of their own besides the declared ones.

Assigning an attribute that is not a declared property (and does not start with `_`) makes a
*dynamic property*: stored with the entity (indexed, except `Text` and `Blob` values), read back
by `from_entity`, listed by `dynamic_properties()`, deleted with `del`. Values are what the
datastore stores (None, numbers, strings, bytes, datetimes, keys, `GeoPt`, `users.User`, and
lists of them); a date, a time or another type is refused when assigned, as App Engine refuses it.

Imports: the standard library, `gae_emu.api.users`, `gae_emu.services.datastore`, `.errors`,
`.model`, `.special`.
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Tuple

from gae_emu.api import users
from gae_emu.ext.db.errors import BadValueError
from gae_emu.ext.db.model import Model, check_reserved_word
from gae_emu.ext.db.special import user_from_value, user_value
from gae_emu.services.datastore import Blob, Entity, GeoPt, Key, Text, UserValue

_DYNAMIC_TYPES = (type(None), bool, int, float, str, bytes, datetime.datetime, Key, GeoPt, users.User)


def _check_dynamic(name: str, value: Any) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        bad = isinstance(item, (datetime.date, datetime.time)) and not isinstance(item, datetime.datetime)
        if bad or not isinstance(item, _DYNAMIC_TYPES) or (isinstance(value, list) and isinstance(item, list)):
            raise BadValueError("Unsupported type for property %s: %s" % (name, type(item).__name__))


def _to_datastore(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_datastore(v) for v in value]
    return user_value(value) if isinstance(value, users.User) else value


def _from_datastore(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_datastore(v) for v in value]
    return user_from_value(value) if isinstance(value, UserValue) else value


class Expando(Model):
    """A model with dynamic properties (see the module docstring)."""

    def __init__(self, parent: Any = None, key_name: Optional[str] = None, _app: Optional[str] = None,
                 _from_entity: bool = False, _projection: Tuple[str, ...] = (), **kwds: Any) -> None:
        object.__setattr__(self, "_dynamic_properties", {})
        dynamic = {k: kwds.pop(k) for k in list(kwds) if k not in self.properties() and k != "key"}
        super().__init__(parent, key_name, _app, _from_entity, _projection, **kwds)
        for name, value in dynamic.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in self.properties() or hasattr(type(self), name):
            object.__setattr__(self, name, value)
            return
        check_reserved_word(name)
        _check_dynamic(name, value)
        self._dynamic_properties[name] = value

    def __getattr__(self, name: str) -> Any:
        dynamic: Dict[str, Any] = self.__dict__.get("_dynamic_properties", {})
        if name in dynamic:
            return dynamic[name]
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def __delattr__(self, name: str) -> None:
        if name in self._dynamic_properties:
            del self._dynamic_properties[name]
        else:
            object.__delattr__(self, name)

    def dynamic_properties(self) -> List[str]:
        return list(self._dynamic_properties)

    def _populate_entity(self) -> Entity:
        entity = super()._populate_entity()
        for name, value in self._dynamic_properties.items():
            if value == []:
                continue  # App Engine writes no property for an empty list
            items = value if isinstance(value, list) else [value]
            indexed = not any(isinstance(v, (Text, Blob)) for v in items)
            entity.set(name, _to_datastore(value), indexed=indexed)
        return entity

    @classmethod
    def from_entity(cls, entity: Entity, projection: Tuple[str, ...] = ()) -> "Model":
        instance = super().from_entity(entity, projection)
        declared = {p.name for p in cls.properties().values()}
        for name in entity:
            if name not in declared and (not projection or name in projection):
                instance._dynamic_properties[name] = _from_datastore(entity[name])
        return instance
