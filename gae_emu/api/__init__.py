"""Client APIs app code imports, named as App Engine names them (`taskqueue`, `users`).

They reach the emulated services only through `gae_emu.apiproxy`.
"""
