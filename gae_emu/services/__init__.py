"""The emulated backends (task queue, datastore, users). State only: no HTTP, no werkzeug."""
