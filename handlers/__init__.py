"""gae-emu's built-in endpoints (login, deferred, admin console), as WSGI apps named by `app.yaml`.

Installed as the package `gae_emu.handlers`. These modules may import `gae_emu`; nothing in
`gae_emu` imports them (the router loads them by name, like any `script:`).
"""
