"""The Cloud API front doors (`google-cloud-*` clients): Cloud Datastore v1 in `cloud.datastore`.

Each translates its wire messages to calls of the same `gae_emu.services` the API server uses, so
both APIs share one store. Nothing here re-implements a service's semantics.

Imports: the standard library, `gae_emu.services`, `gae_emu.storage`, grpc and Google's published
message classes (the `[cloud]` extra), lazily.
"""
