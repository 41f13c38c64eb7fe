"""The Datastore v1 REST form: `POST /v1/projects/{project}:{method}` with a JSON or protobuf
(`application/x-protobuf`) body, answered in the same format by `DatastoreV1`; and the emulator
endpoints Google's Datastore emulator has: `GET /` (ready: "Ok") and `POST /reset` (delete every
entity).

Errors are Google's: a JSON body `{"error": {"code", "message", "status"}}`, or a protobuf
`google.rpc.Status` (what google-cloud-datastore's HTTP transport parses), with the HTTP status of
the canonical code.

Imports: the standard library, werkzeug, google.protobuf, this package.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict

from google.protobuf import json_format
from google.rpc import status_pb2
from werkzeug.wrappers import Request, Response

from gae_emu.cloud.datastore.api import DatastoreV1
from gae_emu.cloud.datastore.errors import CloudError, invalid

PATH = re.compile(r"^/v1/projects/(?P<project>[^/:]+):(?P<method>[A-Za-z]+)$")
MAX_BODY = 16 * 1024 * 1024
PROTOBUF = "application/x-protobuf"


def _method_name(rest_name: str) -> str:
    return rest_name[:1].upper() + rest_name[1:]


class RestApp:
    """The WSGI app of the REST form; `reset` is called by `POST /reset`."""

    def __init__(self, api: DatastoreV1, reset: Callable[[], None]) -> None:
        self.methods = api.methods()
        self.reset = reset

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return Response("Ok\n", mimetype="text/plain")
        if request.path == "/reset" and request.method == "POST":
            self.reset()
            return Response("Resetting...\n", mimetype="text/plain")
        match = PATH.match(request.path)
        if match is None:
            return Response(f"Not found: {request.path}\n", status=404, mimetype="text/plain")
        binary = PROTOBUF in (request.content_type or "")
        if request.method != "POST":
            return self._error(CloudError("INVALID_ARGUMENT", f"{request.path} takes POST"), binary, 405)
        try:
            return self._call(request, match.group("project"), match.group("method"), binary)
        except CloudError as exc:
            return self._error(exc, binary)

    def _call(self, request: Request, project: str, rest_name: str, binary: bool) -> Response:
        method = _method_name(rest_name)
        if method not in self.methods:
            known = ", ".join(sorted(m[:1].lower() + m[1:] for m in self.methods))
            raise CloudError("UNIMPLEMENTED", f"unknown method {rest_name!r} (the methods are {known})")
        if (request.content_length or 0) > MAX_BODY:
            raise invalid(f"the request body is larger than {MAX_BODY} bytes")
        request_class, handler = self.methods[method]
        message = request_class()
        body = request.get_data()
        try:
            if binary:
                message.ParseFromString(body)
            elif body.strip():
                json_format.Parse(body.decode("utf-8"), message)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise invalid(f"the body is not a valid {request_class.DESCRIPTOR.name}: {exc}") from None
        if message.project_id and message.project_id != project:
            raise invalid(f"project_id: {message.project_id!r} does not match the URL's project {project!r}")
        message.project_id = project
        response = handler(message)
        if binary:
            return Response(response.SerializeToString(), mimetype=PROTOBUF)
        return Response(json_format.MessageToJson(response), mimetype="application/json")

    @staticmethod
    def _error(exc: CloudError, binary: bool, status: int = 0) -> Response:
        status = status or exc.http_status
        if binary:
            body = status_pb2.Status(code=exc.grpc_code, message=exc.message).SerializeToString()
            return Response(body, status=status, mimetype=PROTOBUF)
        error: Dict[str, Any] = {"error": {"code": status, "message": exc.message, "status": exc.code}}
        return Response(json.dumps(error), status=status, mimetype="application/json")
