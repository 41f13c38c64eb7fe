"""The Cloud Datastore v1 front door (what google-cloud-datastore and Cloud NDB call when
`DATASTORE_EMULATOR_HOST` is set), on the same `DatastoreService` as the bundled API.

Modules: `protos` (Google's published message classes, lazily), `errors` (v1 statuses, the one
mapping of service errors), `values` (keys, values, entities; project <-> app id), `queries` (v1
queries and result batches), `transactions` (v1 transaction ids), `mutations` (Commit's writes),
`api` (`DatastoreV1`, the methods), `grpc_server` (grpcio wiring), `server` (`DatastoreServer`).

Imports: the standard library, `gae_emu.services.datastore`; grpc and google-cloud-datastore (the
`[cloud]` extra) only in the modules that need them, imported when the server is built.
"""
from gae_emu.cloud.datastore.protos import available

__all__ = ["available"]
