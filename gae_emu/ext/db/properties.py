"""Property descriptors of the model API, named and behaving as `google.appengine.ext.db`'s.

A property validates what is assigned (raising `BadValueError` that names the property), keeps
the value on the instance as `_<name>`, and converts it to and from the datastore's types: Text and
Blob values are unindexed (meanings TEXT, BLOB), ByteString keeps BYTESTRING, dates and times are
stored as datetimes, as App Engine stores them.

Imports: the standard library, `gae_emu.services.datastore`, `.errors`; `.model`/`.query` late
(references resolve through `db.get`, back-references are queries).
"""
from __future__ import annotations

import datetime
from typing import Any, Callable, Iterable, List, Optional, Type

from gae_emu.ext.db.errors import (
    BadValueError, ConfigurationError, DuplicatePropertyError, KindError, ReferencePropertyResolveError,
)
from gae_emu.services.datastore import Blob, ByteString, Key, Text

AUTO_UPDATE_UNCHANGED = object()
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class Property:
    """An attribute of a Model: type, default, validation and storage name."""

    creation_counter = 0
    data_type: type = str

    def __init__(self, verbose_name: Optional[str] = None, name: Optional[str] = None, default: Any = None,
                 required: bool = False, validator: Optional[Callable[[Any], None]] = None,
                 choices: Optional[Iterable[Any]] = None, indexed: bool = True) -> None:
        self.verbose_name = verbose_name
        self.name = name
        self.default = default
        self.required = required
        self.validator = validator
        self.choices = choices
        self.indexed = indexed
        self.creation_counter = Property.creation_counter
        Property.creation_counter += 1

    def __property_config__(self, model_class: type, property_name: str) -> None:
        self.model_class = model_class
        if self.name is None:
            self.name = property_name

    def __get__(self, model_instance: Any, model_class: Optional[type] = None) -> Any:
        if model_instance is None:
            return self
        return getattr(model_instance, self._attr_name(), None)

    def __set__(self, model_instance: Any, value: Any) -> None:
        setattr(model_instance, self._attr_name(), self.validate(value))

    def default_value(self) -> Any:
        return self.default

    def validate(self, value: Any) -> Any:
        if self.empty(value):
            if self.required:
                raise BadValueError("Property %s is required" % self.name)
        elif self.choices and value not in self.choices:
            raise BadValueError("Property %s is %r; must be one of %r" % (self.name, value, self.choices))
        if self.validator is not None:
            self.validator(value)
        return value

    def empty(self, value: Any) -> bool:
        return not value

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        return self.__get__(model_instance, type(model_instance))

    def get_updated_value_for_datastore(self, model_instance: Any) -> Any:
        return AUTO_UPDATE_UNCHANGED

    def make_value_from_datastore(self, value: Any) -> Any:
        return value

    def _require_parameter(self, kwds: dict, parameter: str, value: Any) -> None:
        if parameter in kwds and kwds[parameter] != value:
            raise ConfigurationError("%s must be %s." % (parameter, value))
        kwds[parameter] = value

    def _attr_name(self) -> str:
        return "_" + str(self.name)

    def datastore_type(self) -> type:
        return self.data_type


class _NotNoneProperty(Property):
    """Properties whose falsy values (0, 0.0, False) are values, not 'empty'."""

    def empty(self, value: Any) -> bool:
        return value is None


def _check_length(prop: Property, value: Any, encoded: bytes, limit: int) -> None:
    if len(encoded) > limit:
        raise BadValueError("Property %s is %d bytes long; it must be %d or less." % (prop.name, len(encoded), limit))


class StringProperty(Property):
    """A short, indexed unicode string (at most 1500 bytes of UTF-8)."""

    MAX_LENGTH = 1500
    data_type = str

    def __init__(self, verbose_name: Optional[str] = None, multiline: bool = False, **kwds: Any) -> None:
        super().__init__(verbose_name, **kwds)
        self.multiline = multiline

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None and not isinstance(value, str):
            raise BadValueError("Property %s must be a str or unicode instance, not a %s"
                                % (self.name, type(value).__name__))
        if not self.multiline and value and "\n" in value:
            raise BadValueError("Property %s is not multi-line" % self.name)
        if value is not None:
            _check_length(self, value, value.encode("utf-8"), self.MAX_LENGTH)
        return value


class UnindexedProperty(Property):
    """A property whose values are never indexed (Text, Blob)."""

    def __init__(self, *args: Any, **kwds: Any) -> None:
        self._require_parameter(kwds, "indexed", False)
        super().__init__(*args, **kwds)

    def validate(self, value: Any) -> Any:
        if value is not None and not isinstance(value, self.data_type):
            try:
                value = self.data_type(value)
            except TypeError as err:
                raise BadValueError("Property %s must be convertible to a %s instance (%s)"
                                    % (self.name, self.data_type.__name__, err)) from None
        return super().validate(value)


class TextProperty(UnindexedProperty):
    """A long unicode string (meaning TEXT, unindexed)."""

    data_type = Text


class BlobProperty(UnindexedProperty):
    """Uninterpreted bytes (meaning BLOB, unindexed)."""

    data_type = Blob

    def validate(self, value: Any) -> Any:
        if isinstance(value, str):  # Blob(str) would need an encoding; App Engine refuses it too
            raise BadValueError("Property %s must be convertible to a Blob instance (str is not bytes)" % self.name)
        return super().validate(value)


class ByteStringProperty(Property):
    """A short, indexed byte string (meaning BYTESTRING, at most 1500 bytes)."""

    MAX_LENGTH = 1500
    data_type = ByteString

    def validate(self, value: Any) -> Any:
        if value is not None and not isinstance(value, ByteString):
            if not isinstance(value, (bytes, bytearray)):
                raise BadValueError("Property %s must be convertible to a ByteString instance (%s)"
                                    % (self.name, type(value).__name__))
            value = ByteString(value)
        value = super().validate(value)
        if value is not None:
            _check_length(self, value, value, self.MAX_LENGTH)
        return value


class IntegerProperty(_NotNoneProperty):
    """A 64-bit integer."""

    data_type = int

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is None:
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadValueError("Property %s must be an int or long, not a %s" % (self.name, type(value).__name__))
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise BadValueError("Property %s must fit in 64 bits" % self.name)
        return value


class FloatProperty(_NotNoneProperty):
    """A double."""

    data_type = float

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None and not isinstance(value, float):
            raise BadValueError("Property %s must be a float" % self.name)
        return value


class BooleanProperty(_NotNoneProperty):
    """True or False."""

    data_type = bool

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None and not isinstance(value, bool):
            raise BadValueError("Property %s must be a bool" % self.name)
        return value


class DateTimeProperty(Property):
    """A naive UTC datetime; `auto_now` sets it at every put, `auto_now_add` at creation."""

    data_type: type = datetime.datetime

    def __init__(self, verbose_name: Optional[str] = None, auto_now: bool = False, auto_now_add: bool = False,
                 **kwds: Any) -> None:
        super().__init__(verbose_name, **kwds)
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add

    @staticmethod
    def now() -> Any:
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value and not isinstance(value, self.data_type):
            raise BadValueError("Property %s must be a %s, but was %r" % (self.name, self.data_type.__name__, value))
        return value

    def default_value(self) -> Any:
        return self.now() if (self.auto_now or self.auto_now_add) else self.default

    def get_updated_value_for_datastore(self, model_instance: Any) -> Any:
        return self.now() if self.auto_now else AUTO_UPDATE_UNCHANGED


def _date_to_datetime(value: datetime.date) -> datetime.datetime:
    return datetime.datetime(value.year, value.month, value.day)


def _time_to_datetime(value: datetime.time) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1, value.hour, value.minute, value.second, value.microsecond)


class DateProperty(DateTimeProperty):
    """A date, stored as midnight of that day."""

    data_type = datetime.date

    @staticmethod
    def now() -> Any:
        return DateTimeProperty.now().date()

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if isinstance(value, datetime.datetime):
            raise BadValueError("Property %s must be a %s, not a datetime" % (self.name, self.data_type.__name__))
        return value

    def get_updated_value_for_datastore(self, model_instance: Any) -> Any:
        return self.now() if self.auto_now else AUTO_UPDATE_UNCHANGED

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        value = super().get_value_for_datastore(model_instance)
        return _date_to_datetime(value) if value is not None else None

    def make_value_from_datastore(self, value: Any) -> Any:
        return value.date() if value is not None else None


class TimeProperty(DateTimeProperty):
    """A time of day, stored on 1970-01-01."""

    data_type = datetime.time

    @staticmethod
    def now() -> Any:
        return DateTimeProperty.now().time()

    def empty(self, value: Any) -> bool:
        return value is None

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        value = super().get_value_for_datastore(model_instance)
        return _time_to_datetime(value) if value is not None else None

    def make_value_from_datastore(self, value: Any) -> Any:
        return value.time() if value is not None else None


_ALLOWED_ITEM_TYPES = (str, Text, bytes, Blob, ByteString, bool, int, float, Key,
                       datetime.datetime, datetime.date, datetime.time)


class ListProperty(Property):
    """A list of values of one type (a multi-valued property; empty lists are not written)."""

    data_type = list

    def __init__(self, item_type: type, verbose_name: Optional[str] = None, default: Optional[List[Any]] = None,
                 write_empty_list: Optional[bool] = None, **kwds: Any) -> None:
        if not isinstance(item_type, type):
            raise TypeError("Item type should be a type object")
        if item_type not in _ALLOWED_ITEM_TYPES:
            raise ValueError("Item type %s is not acceptable" % item_type.__name__)
        if issubclass(item_type, (Blob, Text)):
            self._require_parameter(kwds, "indexed", False)
        self._require_parameter(kwds, "required", True)  # an empty list is a value, never "missing"
        self.item_type = item_type
        self.write_empty_list = bool(write_empty_list)
        super().__init__(verbose_name, default=[] if default is None else default, **kwds)

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None:
            if not isinstance(value, list):
                raise BadValueError("Property %s must be a list" % self.name)
            value = self.validate_list_contents(value)
        return value

    def validate_list_contents(self, value: List[Any]) -> List[Any]:
        for item in value:
            if self.item_type is int and (not isinstance(item, int) or isinstance(item, bool)):
                raise BadValueError("Items in the %s list must all be integers." % self.name)
            if not isinstance(item, self.item_type):
                raise BadValueError("Items in the %s list must all be %s instances"
                                    % (self.name, self.item_type.__name__))
        return value

    def empty(self, value: Any) -> bool:
        return value is None

    def default_value(self) -> Any:
        return list(super().default_value())

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        value = super().get_value_for_datastore(model_instance)
        if not value:
            return value
        if self.item_type in (Text, Blob, ByteString):
            value = [self.item_type(v) for v in value]
        elif self.item_type is datetime.date:
            value = [_date_to_datetime(v) for v in value]
        elif self.item_type is datetime.time:
            value = [_time_to_datetime(v) for v in value]
        return list(value)

    def make_value_from_datastore(self, value: Any) -> Any:
        value = value if isinstance(value, list) else [value]
        if self.item_type is datetime.date:
            return [v.date() for v in value]
        if self.item_type is datetime.time:
            return [v.time() for v in value]
        return value


class StringListProperty(ListProperty):
    """A list of unicode strings."""

    def __init__(self, verbose_name: Optional[str] = None, default: Optional[List[str]] = None,
                 write_empty_list: Optional[bool] = None, **kwds: Any) -> None:
        super().__init__(str, verbose_name=verbose_name, default=default, write_empty_list=write_empty_list, **kwds)


_SELF_REFERENCE = object()


class ReferenceProperty(Property):
    """A Key of another model, dereferenced on access; adds `<collection_name>` to the target."""

    def __init__(self, reference_class: Any = None, verbose_name: Optional[str] = None,
                 collection_name: Optional[str] = None, **attrs: Any) -> None:
        super().__init__(verbose_name, **attrs)
        from gae_emu.ext.db.model import Model

        self.collection_name = collection_name
        if reference_class is None:
            reference_class = Model
        if not ((isinstance(reference_class, type) and issubclass(reference_class, Model))
                or reference_class is _SELF_REFERENCE):
            raise KindError("reference_class must be Model or _SELF_REFERENCE")
        self.reference_class = self.data_type = reference_class

    def __property_config__(self, model_class: type, property_name: str) -> None:
        super().__property_config__(model_class, property_name)
        if self.reference_class is _SELF_REFERENCE:
            self.reference_class = self.data_type = model_class
        if self.collection_name is None:
            self.collection_name = "%s_set" % model_class.__name__.lower()
        existing = getattr(self.reference_class, self.collection_name, None)
        if existing is not None and not (
                isinstance(existing, _ReverseReferenceProperty) and existing.prop_name == property_name
                and existing.model.__name__ == model_class.__name__):
            raise DuplicatePropertyError("Class %s already has property %s "
                                         % (self.reference_class.__name__, self.collection_name))
        setattr(self.reference_class, self.collection_name, _ReverseReferenceProperty(model_class, property_name))

    def __get__(self, model_instance: Any, model_class: Optional[type] = None) -> Any:
        if model_instance is None:
            return self
        key = getattr(model_instance, self._attr_name(), None)
        if key is None:
            return None
        resolved = getattr(model_instance, self._resolved_attr_name(), None)
        if resolved is None:
            from gae_emu.ext.db.model import get

            resolved = get(key)
            if resolved is None:
                raise ReferencePropertyResolveError("ReferenceProperty failed to be resolved: %s" % key.to_path())
            setattr(model_instance, self._resolved_attr_name(), resolved)
        return resolved

    def __set__(self, model_instance: Any, value: Any) -> None:
        value = self.validate(value)
        if value is None or isinstance(value, Key):
            setattr(model_instance, self._attr_name(), value)
            setattr(model_instance, self._resolved_attr_name(), None)
        else:
            setattr(model_instance, self._attr_name(), value.key())
            setattr(model_instance, self._resolved_attr_name(), value)

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        return getattr(model_instance, self._attr_name(), None)

    def validate(self, value: Any) -> Any:
        if isinstance(value, Key):
            return value
        if value is not None and not value.has_key():
            raise BadValueError("%s instance must have a complete key before it can be stored as a reference"
                                % self.reference_class.kind())
        value = super().validate(value)
        if value is not None and not isinstance(value, self.reference_class):
            raise KindError("Property %s must be an instance of %s" % (self.name, self.reference_class.kind()))
        return value

    def _resolved_attr_name(self) -> str:
        return "_RESOLVED" + self._attr_name()


def SelfReferenceProperty(verbose_name: Optional[str] = None, collection_name: Optional[str] = None,
                          **attrs: Any) -> ReferenceProperty:
    """A ReferenceProperty to the model that declares it."""
    if "reference_class" in attrs:
        raise ConfigurationError("Do not provide reference_class to self-reference.")
    return ReferenceProperty(_SELF_REFERENCE, verbose_name, collection_name, **attrs)


class _ReverseReferenceProperty(Property):
    """The back-reference: a Query of the referring model filtered on the referring property."""

    def __init__(self, model: Type[Any], prop_name: str) -> None:
        self.model = model
        self.prop_name = prop_name

    def __get__(self, model_instance: Any, model_class: Optional[type] = None) -> Any:
        if model_instance is None:
            return self
        from gae_emu.ext.db.query import Query

        return Query(self.model).filter(self.prop_name + " =", model_instance.key())

    def __set__(self, model_instance: Any, value: Any) -> None:
        raise BadValueError("Virtual property is read-only")


Reference = ReferenceProperty
SelfReference = SelfReferenceProperty
