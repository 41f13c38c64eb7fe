"""`/_ah/queue/deferred`: the built-in handler `builtins: - deferred: on` (and the SDK's handler
script names) mount. It unpickles task payloads, so app.yaml puts it behind `login: admin`, which only
the task queue (an internal request) and logged-in administrators pass.
"""
from gae_emu.ext.deferred import application

__all__ = ["application"]
