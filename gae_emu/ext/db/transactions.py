"""Transactions of the model API: `run_in_transaction` and friends, as `google.appengine.ext.db`.

The open transaction lives in `gae_emu.apiproxy.current_transaction` (a context variable), so the
db calls of the transaction function join it, and other client code (the task queue API) can
attach transactional work with `txn.on_commit`. A commit that loses a conflict is retried
(`DEFAULT_TRANSACTION_RETRIES` = 3 retries, as App Engine) and then raises TransactionFailedError;
`db.Rollback` raised by the function rolls back quietly and returns None.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.services.datastore`, `.errors`.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from gae_emu import apiproxy
from gae_emu.ext.db.errors import BadRequestError, Rollback, TransactionFailedError
from gae_emu.services.datastore import DatastoreService, Transaction

log = logging.getLogger(__name__)

DEFAULT_TRANSACTION_RETRIES = 3
# Propagation modes (datastore_rpc.TransactionOptions).
NESTED, MANDATORY, ALLOWED, INDEPENDENT = 1, 2, 3, 4


@dataclass(frozen=True)
class TransactionOptions:
    xg: bool = False
    retries: Optional[int] = None
    propagation: Optional[int] = None


def create_transaction_options(xg: bool = False, retries: Optional[int] = None,
                               propagation: Optional[int] = None, **unused: Any) -> TransactionOptions:
    """App Engine's `db.create_transaction_options` (deadline and read_policy are accepted, ignored)."""
    return TransactionOptions(xg=xg, retries=retries, propagation=propagation)


def datastore() -> DatastoreService:
    """The running emulator's datastore service."""
    return apiproxy.current().datastore


def current_transaction() -> Optional[Transaction]:
    txn = apiproxy.current_transaction.get()
    return txn if txn is not None and txn.active else None


def is_in_transaction() -> bool:
    return current_transaction() is not None


def run_in_transaction(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return run_in_transaction_options(None, function, *args, **kwargs)


def run_in_transaction_custom_retries(retries: int, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return run_in_transaction_options(TransactionOptions(retries=retries), function, *args, **kwargs)


def run_in_transaction_options(options: Optional[TransactionOptions], function: Callable[..., Any],
                               *args: Any, **kwargs: Any) -> Any:
    """Run `function` in a transaction, retrying on conflicts; see the module docstring."""
    options = options or TransactionOptions()
    if is_in_transaction():
        if options.propagation in (None, NESTED):
            raise BadRequestError("Nested transactions are not supported.")
        if options.propagation == INDEPENDENT:
            token = apiproxy.current_transaction.set(None)
            try:
                return run_in_transaction_options(
                    TransactionOptions(options.xg, options.retries), function, *args, **kwargs)
            finally:
                apiproxy.current_transaction.reset(token)
        return function(*args, **kwargs)
    if options.propagation == MANDATORY:
        raise BadRequestError("Requires an existing transaction.")
    retries = DEFAULT_TRANSACTION_RETRIES if options.retries is None else options.retries
    service = datastore()
    for attempt in range(retries + 1):
        txn = service.begin_transaction(xg=options.xg, app=apiproxy.current().app_id)
        token = apiproxy.current_transaction.set(txn)
        try:
            try:
                result = function(*args, **kwargs)
            except Rollback:
                service.rollback(txn)
                return None
            except BaseException:
                service.rollback(txn)
                raise
            try:
                service.commit(txn)
                return result
            except TransactionFailedError:
                if attempt < retries:
                    log.warning("Transaction collision. Retrying... %s", "")
        finally:
            apiproxy.current_transaction.reset(token)
    raise TransactionFailedError("The transaction could not be committed. Please try again.")


def transactional(func: Optional[Callable[..., Any]] = None, **options: Any) -> Any:
    """Decorator: run the function with `run_in_transaction_options` (default propagation ALLOWED)."""
    options.setdefault("propagation", ALLOWED)
    txn_options = create_transaction_options(**options)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            return run_in_transaction_options(txn_options, fn, *args, **kwargs)
        return inner

    return decorate(func) if func is not None else decorate


def non_transactional(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run the function outside any open transaction."""
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        token = apiproxy.current_transaction.set(None)
        try:
            return func(*args, **kwargs)
        finally:
            apiproxy.current_transaction.reset(token)
    return inner
