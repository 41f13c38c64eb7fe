"""The WSGI server an instance runs when its entrypoint cannot be run as written (no `entrypoint:` and
no gunicorn installed for the app's interpreter): `python instance_server.py --port N module:attr`.

It runs in the *app's* interpreter, which may be a virtualenv without gae-emu or werkzeug, so it is
a standalone script on the standard library alone. It speaks HTTP/1.1 with keep-alive (the front end
holds connections open; a TCP connection per task would cost more than the task) and serves each
connection on its own thread, as gunicorn's threaded workers do.

Imports: the standard library only (never gae_emu: this file runs outside the package).
"""
import argparse
import importlib
import io
import os
import socket
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_to_bytes

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def load_app(ref: str):
    """`module:attr` from the working directory (the service's folder), as gunicorn loads it."""
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    app = module
    for part in (attr or "application").split("."):
        app = getattr(app, part)
    return app


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gae-emu-instance"
    timeout = 300  # an idle keep-alive connection is dropped after this (the front end drops sooner)
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stall); flushed per request
    app = None

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # the front end logs every request already
        pass

    def _serve(self):
        body = b""
        length = self.headers.get("Content-Length")
        if length:
            body = self.rfile.read(int(length))
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            # dev_appserver's value (the emulator sets it in the process environment); gunicorn would
            # say gunicorn/x, which the front end's X-AppEngine-User-IP header makes work as well.
            "SERVER_SOFTWARE": os.environ.get("SERVER_SOFTWARE", "Development/2.0"),
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_LENGTH":
                continue
            if name != "CONTENT_TYPE":
                name = "HTTP_" + name
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        started = []

        def start_response(status, headers, exc_info=None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        chunks = []
        try:
            result = self.app(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                raise RuntimeError("the WSGI application returned without calling start_response")
            status, headers = started
        except Exception:
            traceback.print_exc()
            status, headers, chunks = "500 Internal Server Error", [("Content-Type", "text/plain")], [
                b"Internal Server Error"]
        payload = b"".join(chunks)
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("app", help="module:attr of the WSGI application")
    args = parser.parse_args(argv)
    # Run as a script, Python put this file's folder first on sys.path; the app's folder (the working
    # directory) must take its place, or a module of the app could be shadowed by one beside this file.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, os.getcwd())
    Handler.app = staticmethod(load_app(args.app))
    server = Server((args.host, args.port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
