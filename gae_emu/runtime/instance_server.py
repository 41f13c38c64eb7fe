"""gae-emu's HTTP/1.1 WSGI server: every port of the emulator (front end, admin console, API server)
and, run as a script, the instance server for an app whose entrypoint cannot run as written (no
gunicorn installed): `python instance_server.py --port N module:attr`.

Why its own: connections are kept alive (HTTP/1.1), so a client that makes many calls, Google's
library calling the API server, the front end forwarding tasks to an instance, pays for one TCP
handshake and one server thread per connection, not per request (werkzeug's development server
closes every connection). Each connection is served on its own thread, as gunicorn's threaded
workers do. A body the application did not read is drained, or the connection closed when it is
large, so the next request on the connection is parsed from the right place.

It runs in the *app's* interpreter when used as a script, which may be a virtualenv without gae-emu
or werkzeug, so it uses the standard library alone.

Imports: the standard library only (never gae_emu: this file runs outside the package too).
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
DRAIN_LIMIT = 1 << 20  # an unread body up to this size is read and dropped; above it the connection closes
CHUNKED_LIMIT = 32 * 1024 * 1024  # App Engine's request body cap, for bodies sent without a length


MAX_HEADERS = 100  # as http.client allows
MAX_LINE = 65536


class Headers:
    """A request's headers as read (name, value) in order; `get` ignores case. What the handler
    needs of `email.message.Message`, which the standard library's parser builds at several times
    the cost (a tenth of the emulator's time when tasks drain through an instance)."""

    def __init__(self, items):
        self._items = items

    def items(self):
        return list(self._items)

    def get(self, name, default=None):
        name = name.lower()
        for key, value in self._items:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name, default=None):
        name = name.lower()
        found = [value for key, value in self._items if key.lower() == name]
        return found or default

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return self.get(name) is not None

    def __iter__(self):
        return (key for key, _ in self._items)

    def __len__(self):
        return len(self._items)


class HeaderError(ValueError):
    """A malformed header section; the message is the 4xx reason."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def read_headers(rfile):
    """The header lines up to the blank line, unfolded, as a `Headers`; HeaderError if malformed."""
    items = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeaderError(431, "Line too long")
        if line in (b"\r\n", b"\n"):
            return Headers(items)
        if not line:
            raise HeaderError(400, "The header section is cut short")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):  # an obsolete folded continuation of the previous value
            if not items:
                raise HeaderError(400, "Bad header continuation")
            key, value = items[-1]
            items[-1] = (key, f"{value} {text.strip()}")
            continue
        key, colon, value = text.partition(":")
        if not colon or not key or key != key.strip():
            raise HeaderError(400, f"Bad header line {text[:80]!r}")
        if len(items) >= MAX_HEADERS:
            raise HeaderError(431, "Too many headers")
        items.append((key, value.strip(" \t")))


def load_app(ref):
    """`module:attr` from the working directory (the service's folder), as gunicorn loads it."""
    module_name, _, attr = ref.partition(":")
    app = importlib.import_module(module_name)
    for part in (attr or "application").split("."):
        app = getattr(app, part)
    return app


class BodyReader:
    """`wsgi.input`: at most Content-Length bytes of the request, read as the application asks."""

    def __init__(self, rfile, length):
        self._rfile, self.remaining = rfile, length

    def read(self, size=-1):
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._rfile.read(size) if size else b""
        self.remaining -= len(data)
        return data

    def readline(self, size=-1):
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._rfile.readline(size) if size else b""
        self.remaining -= len(data)
        return data

    def readlines(self, hint=-1):
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


def read_chunked(rfile, limit=CHUNKED_LIMIT):
    """A `Transfer-Encoding: chunked` body (a request's, or an instance's answer), whole; None past
    `limit` bytes; ValueError when it is malformed or cut short."""
    parts, total = [], 0
    while True:
        size = int(rfile.readline(MAX_LINE + 1).split(b";", 1)[0].strip(), 16)
        if size < 0:
            raise ValueError(f"negative chunk size {size}")
        total += size
        if total > limit:
            return None
        if size == 0:
            while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise ValueError(f"the body ended inside a chunk ({len(chunk)} of {size} bytes)")
        parts.append(chunk)
        rfile.readline(MAX_LINE + 1)


class WSGIRequestHandler(BaseHTTPRequestHandler):
    """One keep-alive connection; calls `self.server.app` for each request on it."""

    protocol_version = "HTTP/1.1"
    server_version = "gae-emu-instance"
    timeout = 300  # an idle keep-alive connection is dropped after this
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stall); flushed per request
    extra_environ = {}  # what a subclass adds to every environ

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # subclasses log through their own logger
        pass

    def response_headers(self):
        """Headers this server adds to every response (the front end adds Server and Date)."""
        return []

    def environ(self, stream, length):
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form target: keep the path only
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "REQUEST_URI": self.path,
            "RAW_URI": self.path,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            # dev_appserver's value (the emulator sets it in an instance's environment); gunicorn
            # would say gunicorn/x, which the front end's X-AppEngine-User-IP header makes work too.
            "SERVER_SOFTWARE": os.environ.get("SERVER_SOFTWARE", "Development/2.0"),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(length) if length else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stream,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        environ.update(self.extra_environ)
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING") or "_" in key:  # `_` would pose as `-`
                continue
            if name != "CONTENT_TYPE":
                name = "HTTP_" + name
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def parse_request(self):
        """The request line and headers, as `BaseHTTPRequestHandler.parse_request` reads them but
        with `read_headers` for the header section (see `Headers`)."""
        self.command = None
        self.request_version = "HTTP/1.0"  # what an error answer says before the line is understood
        self.close_connection = True
        self.requestline = requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, f"Bad request line {requestline[:80]!r}")
            return False
        command, path, version = words
        try:
            major, minor = (int(part) for part in version[5:].split("."))
        except ValueError:
            self.send_error(400, f"Bad request version {version[:20]!r}")
            return False
        self.request_version = version
        if major >= 2:
            self.send_error(505, f"Invalid HTTP version ({version[:20]})")
            return False
        if path.startswith("//"):
            path = "/" + path.lstrip("/")  # not a scheme-relative URL
        self.command, self.path = command, path
        try:
            self.headers = read_headers(self.rfile)
        except HeaderError as exc:
            self.send_error(exc.code, str(exc))
            return False
        connection = (self.headers.get("Connection") or "").lower()
        self.close_connection = connection == "close" or ((major, minor) < (1, 1) and connection != "keep-alive")
        if ((self.headers.get("Expect") or "").lower() == "100-continue" and (major, minor) >= (1, 1)
                and not self.handle_expect_100()):
            return False
        return True

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            self.close_connection = True

    def _serve(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                body = read_chunked(self.rfile)
            except ValueError:
                self.close_connection = True
                self.send_error(400, "Bad chunked body")
                return
            if body is None:
                self.close_connection = True
                self.send_error(413, "Upload limited to 32 megabytes.")
                return
            stream, length = BodyReader(io.BytesIO(body), len(body)), len(body)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.send_error(400, "Bad Content-Length")
                return
            stream = BodyReader(self.rfile, length)
        environ = self.environ(stream, length)
        status, headers, payload = self.call_app(environ)
        if stream.remaining:
            if stream.remaining <= DRAIN_LIMIT:
                stream.read()
            else:  # a large body the app refused: do not read it, end the connection instead
                self.close_connection = True
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        for key, value in self.response_headers():
            self.send_header(key, value)
        for key, value in headers:
            lower = key.lower()
            if lower == "connection" and value.strip().lower() == "close":
                self.close_connection = True
            elif lower not in HOP_BY_HOP and lower != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.log_request(code, len(payload))

    def call_app(self, environ):
        """(status, headers, body) of the WSGI application, its errors as a plain 500."""
        started, chunks = [], []

        def start_response(status, headers, exc_info=None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                raise RuntimeError("the WSGI application returned without calling start_response")
            status, headers = started
            int(status.split(" ", 1)[0])
        except Exception:
            traceback.print_exc()
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"Internal Server Error"
        return status, headers, b"".join(chunks)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_TRACE = _serve


class WSGIServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, app, bind_and_activate=True):
        super().__init__(address, handler, bind_and_activate)
        self.app = app

    def serve_forever(self, poll_interval=0.05):
        # shutdown() waits for the loop to look at its flag: a short poll makes stopping (a test's
        # teardown, a restart) take tens of milliseconds rather than socketserver's half second.
        super().serve_forever(poll_interval)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve a WSGI app as a gae-emu instance.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("app", help="module:attr of the WSGI application")
    args = parser.parse_args(argv)
    # Run as a script, Python put this file's folder first on sys.path; the app's folder (the working
    # directory) must take its place, or a module of the app could be shadowed by one beside this file.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, os.getcwd())
    server = WSGIServer((args.host, args.port), WSGIRequestHandler, load_app(args.app))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
