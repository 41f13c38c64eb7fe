"""`gae_emu.ext.db`: App Engine's `google.appengine.ext.db` model API over the emulated datastore.

App code writes `from gae_emu.ext import db` and uses the names App Engine documents. Everything
reaches the datastore through `gae_emu.apiproxy.current().datastore`; the open transaction sits in
`gae_emu.apiproxy.current_transaction`.

Imports: this package, `gae_emu.services.datastore` (for the shared types).
"""
from gae_emu.ext.db.errors import (
    BadArgumentError, BadFilterError, BadKeyError, BadPropertyError, BadQueryError, BadRequestError,
    BadValueError, CommittedButStillApplying, ConfigurationError, DerivedPropertyError, DuplicatePropertyError,
    EntityNotFoundError, Error, InternalError, KindError, NeedIndexError, NotSavedError, PropertyError,
    QueryNotFoundError, ReferencePropertyResolveError, ReservedWordError, Rollback, Timeout,
    TransactionFailedError, TransactionNotFoundError,
)
from gae_emu.ext.db.model import (
    Model, PropertiedClass, allocate_ids, class_for_kind, delete, get, put, save,
)
from gae_emu.ext.db.properties import (
    BlobProperty, BooleanProperty, ByteStringProperty, DateProperty, DateTimeProperty, FloatProperty,
    IntegerProperty, ListProperty, Property, Reference, ReferenceProperty, SelfReference,
    SelfReferenceProperty, StringListProperty, StringProperty, TextProperty, TimeProperty, UnindexedProperty,
)
from gae_emu.ext.db.expando import Expando
from gae_emu.ext.db.query import Query
from gae_emu.ext.db.special import GeoPt, GeoPtProperty, UserProperty
from gae_emu.ext.db.transactions import (
    ALLOWED, DEFAULT_TRANSACTION_RETRIES, INDEPENDENT, MANDATORY, NESTED, TransactionOptions,
    create_transaction_options, is_in_transaction, non_transactional, run_in_transaction,
    run_in_transaction_custom_retries, run_in_transaction_options, transactional,
)
from gae_emu.services.datastore import Blob, ByteString, Key, Text

RunInTransaction = run_in_transaction
RunInTransactionCustomRetries = run_in_transaction_custom_retries
