"""App Engine's `ext` libraries: `deferred` and `db`, on top of `gae_emu.api` and `gae_emu.apiproxy`."""
