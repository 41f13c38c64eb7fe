"""The emulated backends (task queue, datastore, memcache, mail, blobstore, users). State only: no HTTP,
no werkzeug."""
