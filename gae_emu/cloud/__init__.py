"""The Cloud API front doors (`google-cloud-*` clients): Cloud Datastore v1 in `cloud.datastore`,
Cloud Tasks v2 in `cloud.tasks`.

Each translates its wire messages to calls of the same `gae_emu.services` the API server uses, so
both APIs share one store, and owns its error mapping. Nothing here re-implements a service's
semantics.

Imports: the standard library, `gae_emu.services`, `gae_emu.storage`, `gae_emu.config`, grpc and
Google's published message classes (the `[cloud]` extra), lazily.
"""
