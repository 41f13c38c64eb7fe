"""The `/rpc_http` front door for Google's `appengine-python-standard` library (issue 7).

Apps that import `google.appengine.api`/`ext` and call `wrap_wsgi_app()` send every API call as a
`remote_api` `Request` protobuf to `http://$API_HOST:$API_PORT/rpc_http`. This package answers those
calls from the same emulated services `gae_emu.api`/`gae_emu.ext` use, so state is shared.

Modules: `protos` (lazy access to the message classes Google's package ships; nothing generated is
copied here), `errors` (the two kinds of wire errors), `transport` (the WSGI app: decode, check the
ticket, dispatch, encode), `server` (the loopback listener), `entities` (EntityProto <-> Entity),
`dsquery` (Query/QueryResult and server-side batches), one module per service: `datastore`,
`taskqueue`, `memcache`, `modules`, `user`, `app_identity`, `mail`, `urlfetch` (which makes the real
HTTP requests itself), `blobstore`.

Imports: the standard library, werkzeug (in `server`), `gae_emu.apiproxy`, `gae_emu.services.*`;
`google.appengine` only lazily, through `protos`. Never `gae_emu.runtime` (the runtime hands in a
ticket lookup instead), `cli` or `handlers`.
"""
from gae_emu.apiserver.protos import LibraryMissing, library_available
from gae_emu.apiserver.server import ApiServer

__all__ = ["ApiServer", "LibraryMissing", "library_available"]
