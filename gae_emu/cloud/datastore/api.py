"""`DatastoreV1`: the Cloud Datastore v1 methods on raw request messages, answered by the same
`DatastoreService` the bundled API uses. gRPC and REST both call it; it raises `CloudError`.

Versions are the entity group's version (it rises with every committed write to the group, so an
entity's version rises whenever it changes; production's rises only with the entity itself).

Imports: the standard library, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional, Tuple

from gae_emu.cloud.datastore import aggregations, gql, mutations, queries
from gae_emu.cloud.datastore.errors import CloudError, from_service, invalid
from gae_emu.cloud.datastore.protos import pb
from gae_emu.cloud.datastore.transactions import Transactions
from gae_emu.cloud.datastore.values import app_for, complete_key, entity_to_pb, key_from_pb, key_to_pb, timestamp
from gae_emu.services.datastore import DatastoreService, Error as DatastoreError, Key, Transaction

MAX_LOOKUP_KEYS = 1000
TRANSACTIONAL, NON_TRANSACTIONAL = 1, 2


def _service_errors(fn: Callable) -> Callable:
    """The service's domain errors become v1 statuses (errors.from_service, the one mapping)."""

    @functools.wraps(fn)
    def wrapper(self: "DatastoreV1", request: Any) -> Any:
        try:
            return fn(self, request)
        except DatastoreError as exc:
            raise from_service(exc) from None

    return wrapper


def _project(request: Any) -> Tuple[str, str]:
    if not request.project_id:
        raise invalid("project_id: the project id must be set")
    for name in ("property_mask", "explain_options"):
        if name in request.DESCRIPTOR.fields_by_name and request.HasField(name):
            raise CloudError("UNIMPLEMENTED", f"{name}: not supported by gae-emu yet")
    return request.project_id, request.database_id


class DatastoreV1:
    """The v1 methods; `methods()` names them as the gRPC service does."""

    def __init__(self, service: DatastoreService) -> None:
        self.service = service
        self.transactions = Transactions(service)

    def methods(self) -> dict:
        """Method name -> (request class, handler)."""
        m = pb()
        return {
            "Lookup": (m.LookupRequest, self.lookup),
            "RunQuery": (m.RunQueryRequest, self.run_query),
            "RunAggregationQuery": (m.RunAggregationQueryRequest, self.run_aggregation_query),
            "BeginTransaction": (m.BeginTransactionRequest, self.begin_transaction),
            "Commit": (m.CommitRequest, self.commit),
            "Rollback": (m.RollbackRequest, self.rollback),
            "AllocateIds": (m.AllocateIdsRequest, self.allocate_ids),
            "ReserveIds": (m.ReserveIdsRequest, self.reserve_ids),
        }

    # -- reads ------------------------------------------------------------------------------------

    def _read_txn(self, request: Any, app: str, response: Any) -> Optional[Transaction]:
        """The transaction a read runs in: the one named, a new one (returned in the response), or none."""
        if not request.HasField("read_options"):
            return None
        options = request.read_options
        which = options.WhichOneof("consistency_type")
        if which == "transaction":
            return self.transactions.find(options.transaction, "read_options.transaction")
        if which == "new_transaction":
            txn = self.transactions.begin(app, options.new_transaction)
            response.transaction = Transactions.to_bytes(txn)
            return txn
        if which == "read_time":
            raise invalid("read_options.read_time: reads at a past time are not supported by gae-emu "
                          "(it keeps no history)")
        return None

    @_service_errors
    def lookup(self, request: Any) -> Any:
        project, database = _project(request)
        if len(request.keys) > MAX_LOOKUP_KEYS:
            raise invalid(f"keys: cannot look up more than {MAX_LOOKUP_KEYS} keys in one call")
        keys = [complete_key(key_from_pb(k, project, database, f"keys[{i}]"), f"keys[{i}]")
                for i, k in enumerate(request.keys)]
        response = pb().LookupResponse()
        txn = self._read_txn(request, app_for(project, database), response)
        found = self.service.get(keys, txn)
        versions = self.service.group_versions(keys)
        for key, entity, version in zip(keys, found, versions):
            if entity is None:
                key_to_pb(key, response.missing.add(version=version).entity.key)
            else:
                entity_to_pb(entity, response.found.add(version=version).entity)
        return response

    @staticmethod
    def _resolve(request: Any, response: Any, field: str, from_gql: Callable) -> queries.Scope:
        """Copy the request's query (`field`), or the one its GQL stands for, into `response.query`."""
        project, database = _project(request)
        scope = queries.Scope(project, database, request.partition_id.namespace_id)
        which = request.WhichOneof("query_type")
        if which == "gql_query":
            response.query.CopyFrom(from_gql(request.gql_query, project, database, scope.namespace))
        elif which == field:
            response.query.CopyFrom(getattr(request, field))
        else:
            raise invalid(f"{field}: a {field} or gql_query must be set")
        return scope

    @staticmethod
    def _gql_query(message: Any, project: str, database: str, namespace: str) -> Any:
        if gql.is_aggregation(message):
            raise invalid("gql_query: an aggregation (AGGREGATE or SELECT COUNT) needs RunAggregationQuery")
        return gql.to_query(message, project, database, namespace)

    @_service_errors
    def run_query(self, request: Any) -> Any:
        response = pb().RunQueryResponse()
        scope = self._resolve(request, response, "query", self._gql_query)
        query, result_type = queries.query_from_pb(response.query, scope)
        txn = self._read_txn(request, app_for(scope.project, scope.database), response)
        batch = queries.batch_query(query)
        result = self.service.run_query(batch, txn)
        versions = self.service.group_versions(result.keys) if result_type != queries.PROJECTION else [0] * len(result.entities)
        queries.fill_batch(batch, result, result_type, versions, response.batch)
        return response

    @_service_errors
    def run_aggregation_query(self, request: Any) -> Any:
        response = pb().RunAggregationQueryResponse()
        scope = self._resolve(request, response, "aggregation_query", gql.to_aggregation)
        txn = self._read_txn(request, app_for(scope.project, scope.database), response)
        aggregations.run(self.service, response.query, scope, txn, response.batch)
        return response

    # -- transactions -------------------------------------------------------------------------------

    @_service_errors
    def begin_transaction(self, request: Any) -> Any:
        project, database = _project(request)
        options = request.transaction_options if request.HasField("transaction_options") else None
        txn = self.transactions.begin(app_for(project, database), options)
        return pb().BeginTransactionResponse(transaction=Transactions.to_bytes(txn))

    @_service_errors
    def commit(self, request: Any) -> Any:
        project, database = _project(request)
        writes = mutations.parse(request.mutations, project, database)
        which = request.WhichOneof("transaction_selector")
        if request.mode == NON_TRANSACTIONAL or (request.mode == 0 and which is None):
            if which is not None:
                raise invalid("transaction: a NON_TRANSACTIONAL commit cannot name a transaction")
            keys = mutations.apply_non_transactional(self.service, writes) if writes else []
        else:
            if which == "single_use_transaction":
                txn = self.transactions.begin(app_for(project, database), request.single_use_transaction)
            elif which == "transaction":
                txn = self.transactions.find(request.transaction)
            else:
                raise invalid("transaction: a TRANSACTIONAL commit needs a transaction or single_use_transaction")
            try:
                if writes and self.transactions.is_read_only(txn):
                    raise invalid("mutations: a read-only transaction cannot write")
                keys = mutations.apply(self.service, writes, txn)
                self.service.commit(txn)
            finally:
                self.service.rollback(txn)  # a no-op once committed
                self.transactions.forget(txn)
        return self._commit_response(writes, keys)

    def _commit_response(self, writes: List[mutations.Write], keys: List[Key]) -> Any:
        response = pb().CommitResponse()
        now = self.service.clock()
        timestamp(now, response.commit_time)
        for w, key, version in zip(writes, keys, self.service.group_versions(keys)):
            result = response.mutation_results.add(version=version)
            if w.allocated:
                key_to_pb(key, result.key)
            if w.op != "delete":
                timestamp(now, result.update_time)
        return response

    def rollback(self, request: Any) -> Any:
        _project(request)
        try:
            txn = self.transactions.find(request.transaction)
        except Exception:
            return pb().RollbackResponse()  # already ended (a failed commit ends it): harmless again
        self.service.rollback(txn)
        self.transactions.forget(txn)
        return pb().RollbackResponse()

    # -- ids ---------------------------------------------------------------------------------------

    @_service_errors
    def allocate_ids(self, request: Any) -> Any:
        project, database = _project(request)
        response = pb().AllocateIdsResponse()
        keys = [key_from_pb(message, project, database, f"keys[{i}]") for i, message in enumerate(request.keys)]
        for i, key in enumerate(keys):
            if key.has_id_or_name():
                raise invalid(f"keys[{i}]: AllocateIds needs incomplete keys; this one is complete")
        if keys:  # one range for the request: the service's ids are per app, the same for every key here
            start, _ = self.service.allocate_ids(keys[0], len(keys))
            for offset, key in enumerate(keys):
                key_to_pb(key.with_id(start + offset), response.keys.add())
        return response

    @_service_errors
    def reserve_ids(self, request: Any) -> Any:
        project, database = _project(request)
        keys = [complete_key(key_from_pb(k, project, database, f"keys[{i}]"), f"keys[{i}]")
                for i, k in enumerate(request.keys)]
        self.service.reserve_ids(keys)
        return pb().ReserveIdsResponse()
