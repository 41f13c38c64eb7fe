"""The emulated App Engine datastore: keys, typed entities, transactions and queries over SQLite.

Modules: `errors` (domain errors, once), `reference` (Reference protobuf codec for `str(key)`),
`keys` (`Key`), `entities` (`Entity`, `Property`, `Value`, meanings, App Engine's value order),
`codec` (lossless row and cursor serialization), `query` (query description and evaluation),
`indexes` (the composite index a query needs), `metadata` (`__kind__` and the other pseudo-kinds),
`transactions` (`Transaction`), `service` (`DatastoreService`, the SQL).

Imports: the standard library and `gae_emu.storage`; no HTTP.
"""
from gae_emu.services.datastore.entities import (
    Blob, ByteString, Entity, GeoPt, Meaning, Property, Text, UserValue, Value, make_property, value_order,
)
from gae_emu.services.datastore.errors import (
    BadArgumentError, BadFilterError, BadKeyError, BadPropertyError, BadQueryError, BadRequestError,
    BadValueError, CommittedButStillApplying, EntityNotFoundError, Error, ErrorCode, InternalError,
    NeedIndexError, QueryNotFoundError, Rollback, Timeout, TransactionFailedError,
    TransactionNotFoundError,
)
from gae_emu.services.datastore.indexes import CompositeIndex, IndexProperty, composite_index
from gae_emu.services.datastore.keys import Key
from gae_emu.services.datastore.query import KEY_PROPERTY, Filter, Order, Query, QueryResult
from gae_emu.services.datastore.service import DatastoreService
from gae_emu.services.datastore.transactions import (
    MAX_ENTITY_GROUPS_PER_XG_TXN, Transaction, TransactionState,
)

__all__ = [
    "Blob", "ByteString", "Entity", "GeoPt", "UserValue", "Meaning", "Property", "Text", "Value", "make_property", "value_order",
    "BadArgumentError", "BadFilterError", "BadKeyError", "BadPropertyError", "BadQueryError",
    "BadRequestError", "BadValueError", "CommittedButStillApplying", "EntityNotFoundError", "Error",
    "ErrorCode", "InternalError", "NeedIndexError", "QueryNotFoundError", "Rollback", "Timeout",
    "TransactionFailedError", "TransactionNotFoundError", "CompositeIndex", "IndexProperty",
    "composite_index", "Key", "KEY_PROPERTY", "Filter", "Order",
    "Query", "QueryResult", "DatastoreService", "MAX_ENTITY_GROUPS_PER_XG_TXN", "Transaction",
    "TransactionState",
]
