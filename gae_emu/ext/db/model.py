"""`Model` and the module functions `get`, `put`, `delete`, `allocate_ids`, as `ext.db` has them.

A model class's metaclass collects its `Property` descriptors (inherited ones too) and registers
the class under its kind, so `db.get` can turn any entity back into an instance. An instance turns
into a service `Entity` at put (after auto_now updates) and back in `from_entity`.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.services.datastore`, `.errors`,
`.properties`, `.transactions`; `.query` late (queries build models).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple, Type, Union

from gae_emu import apiproxy
from gae_emu.ext.db.errors import (
    BadArgumentError, BadKeyError, BadRequestError, BadValueError, DuplicatePropertyError, KindError,
    NotSavedError, ReservedWordError,
)
from gae_emu.ext.db.properties import AUTO_UPDATE_UNCHANGED, ListProperty, Property
from gae_emu.ext.db.transactions import current_transaction, datastore, run_in_transaction
from gae_emu.services.datastore import Entity, Key

_kind_map: Dict[str, Type["Model"]] = {}
_RESERVED_WORDS = {"key_name"}


def class_for_kind(kind: str) -> Type["Model"]:
    try:
        return _kind_map[kind]
    except KeyError:
        raise KindError("No implementation for kind '%s'" % kind) from None


def check_reserved_word(attr_name: str) -> None:
    if attr_name in _RESERVED_WORDS or (attr_name in Model.__dict__ and not isinstance(Model.__dict__[attr_name], Property)):
        raise ReservedWordError(
            "Cannot define property.  All names both beginning and ending with '__' are reserved."
            if attr_name.startswith("__") else
            "Cannot define property using reserved word '%s'. If you would like to use this name in the "
            "datastore consider using a different name like %s_ and adding name='%s' to the parameter "
            "list of the property definition." % (attr_name, attr_name, attr_name))


class PropertiedClass(type):
    """Collects a model's properties and maps its kind to it."""

    def __init__(cls, name: str, bases: Tuple[type, ...], dct: Dict[str, Any]) -> None:
        super().__init__(name, bases, dct)
        properties: Dict[str, Property] = {}
        for base in reversed(cls.__mro__[1:]):
            properties.update(getattr(base, "_properties", {}))
        for attr_name, attr in dct.items():
            if isinstance(attr, Property):
                check_reserved_word(attr_name)
                if attr_name in properties and properties[attr_name] is not attr:
                    raise DuplicatePropertyError("Duplicate property: %s" % attr_name)
                attr.__property_config__(cls, attr_name)
                properties[attr_name] = attr
        cls._properties = properties
        cls._all_properties = frozenset(p.name for p in properties.values())
        cls._unindexed_properties = frozenset(p.name for p in properties.values() if not p.indexed)
        _kind_map[cls.kind()] = cls  # type: ignore[attr-defined]


class Model(metaclass=PropertiedClass):
    """A datastore entity with declared properties."""

    _properties: Dict[str, Property] = {}
    _all_properties: frozenset = frozenset()
    _unindexed_properties: frozenset = frozenset()

    def __init__(self, parent: Union["Model", Key, None] = None, key_name: Optional[str] = None,
                 _app: Optional[str] = None, _from_entity: bool = False, _projection: Tuple[str, ...] = (),
                 **kwds: Any) -> None:
        key = kwds.pop("key", None)
        self._saved = bool(_from_entity)
        self._projection = tuple(_projection)  # a projection query's partial instance: never put
        self._key: Optional[Key] = None
        self._key_name: Optional[str] = None
        self._parent_key: Optional[Key] = None
        self._app = _app
        if key is not None:
            if isinstance(key, str):
                key = Key(key)
            if not isinstance(key, Key):
                raise TypeError("Expected Key type; received %s (is %s)" % (key, type(key).__name__))
            if not key.has_id_or_name():
                raise BadKeyError("Key must have an id or name")
            if key.kind() != self.kind():
                raise BadKeyError("Expected Key kind to be %s; received %s" % (self.kind(), key.kind()))
            if key_name and key_name != key.name():
                raise BadArgumentError("Cannot use key and key_name at the same time with different values")
            if parent and _as_key(parent) != key.parent():
                raise BadArgumentError("Cannot use key and parent at the same time with different values")
            self._key = key
        else:
            if key_name == "":
                raise BadKeyError("Name cannot be empty.")
            if key_name is not None and not isinstance(key_name, str):
                raise BadKeyError("Name must be string type, not %s" % type(key_name).__name__)
            if parent is not None:
                if not isinstance(parent, (Model, Key)):
                    raise TypeError("Expected Model type; received %s (is %s)" % (parent, type(parent).__name__))
                if isinstance(parent, Model) and not parent.has_key():
                    raise BadValueError("%s instance must have a complete key before it can be used as a parent."
                                        % parent.kind())
                self._parent_key = _as_key(parent)
            self._key_name = key_name
        for prop in self.properties().values():
            if prop.name not in kwds and self._projection:
                continue  # not projected: left unset, as App Engine's db leaves it
            value = kwds[prop.name] if prop.name in kwds else prop.default_value()
            prop.__set__(self, value)

    # -- identity ------------------------------------------------------------------------------

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    entity_type = kind

    @classmethod
    def properties(cls) -> Dict[str, Property]:
        return dict(cls._properties)

    fields = properties

    def _app_id(self) -> str:
        return self._app or (self._parent_key.app() if self._parent_key else apiproxy.current().app_id)

    def key(self) -> Key:
        if self._key is not None and self._key.has_id_or_name():
            return self._key
        if self._key_name is not None:
            parent = self._parent_key
            self._key = Key.from_path(self.kind(), self._key_name, parent=parent,
                                      _app=None if parent else self._app_id())
            return self._key
        raise NotSavedError()

    def _incomplete_key(self) -> Key:
        parent = self._parent_key
        base = parent.path if parent else ()
        namespace = parent.namespace() if parent else ""
        return Key.build(self._app_id(), namespace, base + ((self.kind(), None),))

    def is_saved(self) -> bool:
        return self._saved

    def has_key(self) -> bool:
        return self._saved or self._key is not None or self._key_name is not None

    def parent_key(self) -> Optional[Key]:
        if self._parent_key is not None:
            return self._parent_key
        return self._key.parent() if self._key is not None else None

    def parent(self) -> Optional["Model"]:
        parent_key = self.parent_key()
        return get(parent_key) if parent_key is not None else None

    def dynamic_properties(self) -> List[str]:
        return []

    # -- entity conversion ---------------------------------------------------------------------

    def _populate_entity(self) -> Entity:
        """Apply auto-updated values, then build the entity to store."""
        for prop in self.properties().values():
            new_value = prop.get_updated_value_for_datastore(self)
            if new_value is not AUTO_UPDATE_UNCHANGED:
                prop.__set__(self, new_value)
        key = self.key() if self.has_key() else self._incomplete_key()
        entity = Entity(key)
        for prop in self.properties().values():
            value = prop.get_value_for_datastore(self)
            if value == [] and not (isinstance(prop, ListProperty) and prop.write_empty_list):
                continue  # App Engine writes no property for an empty list
            entity.set(prop.name, value, indexed=prop.indexed)
        return entity

    @classmethod
    def from_entity(cls, entity: Entity, projection: Tuple[str, ...] = ()) -> "Model":
        """An instance for a stored entity (or a projection query's partial one)."""
        if cls.kind() != entity.kind():
            raise KindError("Class %s cannot handle kind '%s'" % (repr(cls), entity.kind()))
        values = {}
        for prop in cls.properties().values():
            if prop.name in entity:
                values[prop.name] = prop.make_value_from_datastore(entity[prop.name])
        return cls(None, _from_entity=True, _projection=projection, key=entity.key, **values)

    # -- persistence ---------------------------------------------------------------------------

    def put(self, **kwargs: Any) -> Key:
        return put(self)

    save = put

    def delete(self, **kwargs: Any) -> None:
        delete(self.key())
        self._saved = False

    # -- class-level fetching -------------------------------------------------------------------

    @classmethod
    def get(cls, keys: Any, **kwargs: Any) -> Any:
        results = get(keys)
        for instance in results if isinstance(results, list) else [results]:
            if instance is not None and not isinstance(instance, cls):
                raise KindError("Kind %r is not a subclass of kind %r" % (instance.kind(), cls.kind()))
        return results

    @classmethod
    def get_by_key_name(cls, key_names: Union[str, Iterable[str]], parent: Any = None, **kwargs: Any) -> Any:
        return cls._get_by_path_part(key_names, str, parent)

    @classmethod
    def get_by_id(cls, ids: Union[int, Iterable[int]], parent: Any = None, **kwargs: Any) -> Any:
        return cls._get_by_path_part(ids, int, parent)

    @classmethod
    def _get_by_path_part(cls, values: Any, part_type: type, parent: Any) -> Any:
        """get() of this kind's keys with these ids or names (one value, or a list of them)."""
        parent_key = _as_key(parent) if parent is not None else None
        parts, multiple = _normalize(values, part_type)
        keys = [Key.from_path(cls.kind(), part, parent=parent_key) for part in parts]
        return get(keys) if multiple else get(keys[0])

    @classmethod
    def get_or_insert(cls, key_name: str, **kwds: Any) -> "Model":
        def txn() -> "Model":
            entity = cls.get_by_key_name(key_name, parent=kwds.get("parent"))
            if entity is None:
                entity = cls(key_name=key_name, **kwds)
                entity.put()
            return entity
        return run_in_transaction(txn)

    @classmethod
    def all(cls, **kwds: Any) -> Any:
        from gae_emu.ext.db.query import Query

        return Query(cls, **kwds)

    def __repr__(self) -> str:
        key = self.key() if self.has_key() else None
        return "<%s key=%r>" % (type(self).__name__, key)


def _as_key(value: Any) -> Key:
    if isinstance(value, Model):
        return value.key()
    if isinstance(value, str):
        return Key(value)
    if isinstance(value, Key):
        return value
    raise BadArgumentError("Expected a Model, Key or string key; received %r (a %s)." % (value, type(value).__name__))


def _normalize(values: Any, types: Union[type, Tuple[type, ...]]) -> Tuple[List[Any], bool]:
    """App Engine's NormalizeAndTypeCheck: a single value or a list, each of `types`."""
    multiple = isinstance(values, (list, tuple))
    items = list(values) if multiple else [values]
    for item in items:
        if not isinstance(item, types) or isinstance(item, bool):
            raise BadArgumentError("Expected an instance or iterable of %s; received %s (a %s)."
                                   % (types, item, type(item).__name__))
    return items, multiple


def get(keys: Any, **kwargs: Any) -> Any:
    """Fetch model instances by key (a Key, a string key, or a list of them)."""
    multiple = isinstance(keys, (list, tuple))
    key_list = [_as_key(k) for k in (keys if multiple else [keys])]
    entities = datastore().get(key_list, current_transaction())
    models = [None if e is None else class_for_kind(e.kind() or "").from_entity(e) for e in entities]
    return models if multiple else models[0]


def put(models: Any, **kwargs: Any) -> Any:
    """Store model instances; returns their keys (one key for one model)."""
    items, multiple = _normalize(models, Model)
    if any(m._projection for m in items):
        raise BadRequestError("Cannot put a partial entity")
    keys = datastore().put([m._populate_entity() for m in items], current_transaction())
    for model, key in zip(items, keys):
        model._key, model._key_name, model._saved = key, None, True
    return keys if multiple else keys[0]


save = put


def delete(models: Any, **kwargs: Any) -> None:
    """Delete by model, Key or string key (or a list of them)."""
    items = models if isinstance(models, (list, tuple)) else [models]
    datastore().delete([_as_key(m) for m in items], current_transaction())


def allocate_ids(model: Any, size: int, **kwargs: Any) -> Tuple[int, int]:
    """Reserve `size` ids for the model's (or key's) kind; returns the inclusive (start, end)."""
    return datastore().allocate_ids(_as_key(model), size)
