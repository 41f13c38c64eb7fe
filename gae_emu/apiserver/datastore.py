"""`datastore_v3` over the wire: Get, Put, Delete, RunQuery, Next, BeginTransaction, Commit, Rollback,
AllocateIds, answered by the same `DatastoreService` `gae_emu.ext.db` uses.

Transactions are the service's own (optimistic, per entity group); a wire handle is the service's
`Transaction.handle`. Puts inside a transaction get their ids at once (the client needs the completed
key before commit). A commit that loses a race answers `application_error 2`
(CONCURRENT_TRANSACTION), which makes ndb and db retry. Taskqueue adds bound to a transaction are
registered on it by the taskqueue handler and enqueued by the commit itself.

Service errors carry their `datastore_v3` `Error.ErrorCode` (`code`); client-side kinds of errors
without one (a bad key, a bad value) answer BAD_REQUEST.

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional

from gae_emu.apiserver.dsquery import QueryBatches
from gae_emu.apiserver.entities import entity_from_pb, entity_to_pb, key_from_pb, key_to_pb
from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler
from gae_emu.services.datastore import BadRequestError, DatastoreService, ErrorCode, Transaction
from gae_emu.services.datastore import Error as DatastoreError


def application_error(exc: DatastoreError) -> ApplicationError:
    return ApplicationError(exc.code or ErrorCode.BAD_REQUEST, str(exc) or type(exc).__name__)


def _translated(fn: Callable) -> Callable:
    """Service errors become datastore_v3 application errors (the one place that maps them)."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except DatastoreError as exc:
            raise application_error(exc) from None

    return wrapper


class DatastoreV3(ServiceHandler):
    name = "datastore_v3"
    bad_request = ErrorCode.BAD_REQUEST

    def __init__(self, service: DatastoreService) -> None:
        self.service = service
        self.batches = QueryBatches(self._run_query)

    def methods(self) -> Dict[str, Method]:
        d, base = pb().datastore, pb().api_base
        return {
            "Get": (d.GetRequest, self.get),
            "Put": (d.PutRequest, self.put),
            "Delete": (d.DeleteRequest, self.delete),
            "RunQuery": (d.Query, self.run_query),
            "Next": (d.NextRequest, self.next),
            "BeginTransaction": (d.BeginTransactionRequest, self.begin_transaction),
            "Commit": (d.Transaction, self.commit),
            "Rollback": (d.Transaction, self.rollback),
            "AllocateIds": (d.AllocateIdsRequest, self.allocate_ids),
            # The dev stub's no-op bookkeeping calls, answered the same cheap way.
            "AddActions": (d.AddActionsRequest, lambda req, call: d.AddActionsResponse()),
            "GetIndices": (base.StringProto, lambda req, call: d.CompositeIndices()),
        }

    def _txn(self, message: Any, field: str = "transaction") -> Optional[Transaction]:
        if not message.HasField(field):
            return None
        return self.service.transaction(getattr(message, field).handle)

    # -- entities -----------------------------------------------------------------------------------

    @_translated
    def get(self, request: Any, call: Call) -> Any:
        keys = [key_from_pb(k) for k in request.key]
        found = self.service.get(keys, self._txn(request))
        response = pb().datastore.GetResponse()
        response.in_order = True
        for key, entity in zip(keys, found):
            group = response.entity.add()
            if entity is not None:
                entity_to_pb(entity, group.entity)
            else:
                key_to_pb(key, group.key)
        return response

    @_translated
    def put(self, request: Any, call: Call) -> Any:
        entities = [entity_from_pb(e) for e in request.entity]
        keys = self.service.put(entities, self._txn(request))
        response = pb().datastore.PutResponse()
        for key in keys:
            key_to_pb(key, response.key.add())
        return response

    @_translated
    def delete(self, request: Any, call: Call) -> Any:
        self.service.delete([key_from_pb(k) for k in request.key], self._txn(request))
        return pb().datastore.DeleteResponse()

    @_translated
    def allocate_ids(self, request: Any, call: Call) -> Any:
        if request.HasField("max") or len(request.reserve):
            raise BadRequestError("gae-emu supports AllocateIds with `size` only (not `max` or `reserve`) yet")
        start, end = self.service.allocate_ids(key_from_pb(request.model_key), request.size)
        response = pb().datastore.AllocateIdsResponse()
        response.start, response.end = start, end
        return response

    # -- queries ------------------------------------------------------------------------------------

    def _run_query(self, query: Any, txn_handle: Optional[int]) -> Any:
        txn = self.service.transaction(txn_handle) if txn_handle is not None else None
        return self.service.run_query(query, txn)

    @_translated
    def run_query(self, request: Any, call: Call) -> Any:
        result = pb().datastore.QueryResult()
        txn = self._txn(request)
        self.batches.first(request, txn.handle if txn is not None else None, result)
        return result

    @_translated
    def next(self, request: Any, call: Call) -> Any:
        result = pb().datastore.QueryResult()
        self.batches.next(request, result)
        return result

    # -- transactions -------------------------------------------------------------------------------

    @_translated
    def begin_transaction(self, request: Any, call: Call) -> Any:
        txn = self.service.begin_transaction(xg=request.allow_multiple_eg, app=request.app or None)
        response = pb().datastore.Transaction()
        response.handle = txn.handle
        response.app = request.app
        return response

    @_translated
    def commit(self, request: Any, call: Call) -> Any:
        self.service.commit(self.service.transaction(request.handle))
        return pb().datastore.CommitResponse()

    def rollback(self, request: Any, call: Call) -> Any:
        try:
            txn = self.service.transaction(request.handle)
        except BadRequestError:
            return None  # already ended (a failed commit ends it): rolling back again is harmless
        self.service.rollback(txn)
        return None
