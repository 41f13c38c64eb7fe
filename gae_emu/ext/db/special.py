"""`GeoPt`, `GeoPtProperty` and `UserProperty`: the classic API's point and user values.

`db.GeoPt(lat, lon)` (or `db.GeoPt("lat,lon")`) is the datastore's point with App Engine's range
checks. A `UserProperty` holds a `gae_emu.api.users.User`; the datastore stores it as a user value
whose user id the service derives from the email, as App Engine's dev datastore does, and gives it
back as a `User` again. `auto_current_user(_add)` fill it from the signed-in user.

Imports: the standard library, `gae_emu.api.users`, `gae_emu.services.datastore`, `.errors`,
`.properties`.
"""
from __future__ import annotations

from typing import Any, Optional

from gae_emu.api import users
from gae_emu.ext.db.errors import BadValueError
from gae_emu.ext.db.properties import AUTO_UPDATE_UNCHANGED, Property
from gae_emu.services.datastore import BadValueError as DatastoreBadValueError
from gae_emu.services.datastore import GeoPt as _DatastoreGeoPt
from gae_emu.services.datastore import UserValue


class GeoPt(_DatastoreGeoPt):
    """A point on the globe: latitude in [-90, 90], longitude in [-180, 180]."""

    def __init__(self, lat: Any, lon: Optional[float] = None) -> None:
        if lon is None:
            try:
                lat, lon = str(lat).split(",")
            except ValueError:
                raise BadValueError('Expected a "lat,long" formatted string; received %s (a %s).'
                                    % (lat, type(lat).__name__)) from None
        try:
            super().__init__(float(lat), float(lon))
            self.check()
        except (TypeError, ValueError, DatastoreBadValueError) as exc:
            raise BadValueError(str(exc)) from None

    def __repr__(self) -> str:
        return "datastore_types.GeoPt(%r, %r)" % (self.lat, self.lon)


class GeoPtProperty(Property):
    """A GeoPt value (indexed; sorts by latitude, then longitude)."""

    data_type = GeoPt

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None and not isinstance(value, _DatastoreGeoPt):
            raise BadValueError("Property %s must be a GeoPt, not a %s" % (self.name, type(value).__name__))
        return value

    def make_value_from_datastore(self, value: Any) -> Any:
        return GeoPt(value.lat, value.lon) if isinstance(value, _DatastoreGeoPt) else value


def user_value(user: users.User) -> UserValue:
    return UserValue(user.email(), user.auth_domain(), user_id=user.user_id(),
                     federated_identity=user.federated_identity(), federated_provider=user.federated_provider())


def user_from_value(value: UserValue) -> users.User:
    return users.User(value.email, _auth_domain=value.auth_domain, _user_id=value.user_id,
                      federated_identity=value.federated_identity, federated_provider=value.federated_provider)


class UserProperty(Property):
    """A `users.User`; `auto_current_user(_add)` set it to the signed-in user on put (or first put)."""

    data_type = users.User

    def __init__(self, verbose_name: Optional[str] = None, name: Optional[str] = None, required: bool = False,
                 validator: Any = None, choices: Any = None, auto_current_user: bool = False,
                 auto_current_user_add: bool = False, indexed: bool = True) -> None:
        super().__init__(verbose_name, name, required=required, validator=validator, choices=choices,
                         indexed=indexed)
        self.auto_current_user = auto_current_user
        self.auto_current_user_add = auto_current_user_add

    def default_value(self) -> Any:
        if self.auto_current_user or self.auto_current_user_add:
            return users.get_current_user()
        return None

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        if value is not None and not isinstance(value, users.User):
            raise BadValueError("Property %s must be a User" % self.name)
        return value

    def get_updated_value_for_datastore(self, model_instance: Any) -> Any:
        if self.auto_current_user:
            return users.get_current_user()
        return AUTO_UPDATE_UNCHANGED

    def get_value_for_datastore(self, model_instance: Any) -> Any:
        user = super().get_value_for_datastore(model_instance)
        return user_value(user) if user is not None else None

    def make_value_from_datastore(self, value: Any) -> Any:
        return user_from_value(value) if isinstance(value, UserValue) else value

