"""The errors `google.appengine.ext.db` exposes: the datastore's own (defined once, in
`gae_emu.services.datastore.errors`) plus the few that only the model layer raises.

Imports: `gae_emu.services.datastore.errors`.
"""
from __future__ import annotations

from gae_emu.services.datastore.errors import (  # noqa: F401  (re-exported under db's names)
    BadArgumentError, BadFilterError, BadKeyError, BadPropertyError, BadQueryError, BadRequestError,
    BadValueError, CommittedButStillApplying, EntityNotFoundError, Error, InternalError, NeedIndexError,
    QueryNotFoundError, Rollback, Timeout, TransactionFailedError, TransactionNotFoundError,
)


class NotSavedError(Error):
    """The model instance has no complete key yet (it was never put)."""


class KindError(BadValueError):
    """The entity's kind has no model class, or is not the one expected."""


class PropertyError(Error):
    """A property name is not valid for the model, or not indexed."""


class DuplicatePropertyError(Error):
    """A model defines (or inherits) a property twice."""


class ConfigurationError(Error):
    """A property is configured with contradictory options."""


class ReservedWordError(Error):
    """A property is named after a reserved word or a Model attribute."""


class DerivedPropertyError(Error):
    """A derived (computed) property cannot be set."""


class ReferencePropertyResolveError(Error):
    """A ReferenceProperty names an entity that no longer exists."""
