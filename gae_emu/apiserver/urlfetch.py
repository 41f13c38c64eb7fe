"""`urlfetch` over the wire: Fetch performs the real HTTP(S) request, with production's rules.

What production does and we do too (URL Fetch docs, "Issuing HTTP(S) requests" and "Quotas and
limits"; the SDK's urlfetch stub for the details the docs leave open):
- http and https only, ports 80-90, 440-450 and 1024-65535, URLs up to 10240 characters
  (else INVALID_URL); payloads up to 10 MiB (else PAYLOAD_TOO_LARGE), sent for POST, PUT and PATCH;
- the app's headers minus the ones the service sets itself (Host, Content-Length, Vary, Via,
  X-Forwarded-For); `User-Agent` gets production's suffix
  `AppEngine-Google; (+http://code.google.com/appengine; appid: APP_ID)`; gzip is asked for and
  decoded unless the app sent its own Accept-Encoding;
- `Deadline` bounds the whole fetch, redirects included (5 s when the app sets none, production's
  default); the emulator adds no smaller cap;
- redirects (301, 302, 303, 307, 308) are followed up to 5 times when `FollowRedirects` is set, a
  POST becoming a GET except on 307/308, and `FinalUrl` names where it ended; more is
  TOO_MANY_REDIRECTS;
- certificates are checked unless `MustValidateServerCertificate` is false (SSL_CERTIFICATE_ERROR);
- responses over 32 MiB are cut to 32 MiB with `ContentWasTruncated` (the library raises
  ResponseTooLargeError unless the app passed `allow_truncated`).
Other failures: a timeout is DEADLINE_EXCEEDED, an unknown host DNS_ERROR, a refused connection
CONNECTION_ERROR, anything else on the wire FETCH_ERROR; the library turns each into its
`urlfetch_errors` class. Requests to the emulator's own ports are made like any other.

Imports: the standard library, this package.
"""
from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import time
import zlib
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urljoin, urlsplit

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler

# URLFetchServiceError.ErrorCode
INVALID_URL, FETCH_ERROR, DEADLINE_EXCEEDED, SSL_CERTIFICATE_ERROR = 1, 2, 5, 6
DNS_ERROR, CLOSED, TOO_MANY_REDIRECTS, MALFORMED_REPLY, CONNECTION_ERROR, PAYLOAD_TOO_LARGE = 7, 8, 10, 11, 12, 13

METHODS = {1: "GET", 2: "POST", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH"}
BODY_METHODS = ("POST", "PUT", "PATCH")
MAX_URL_LENGTH = 10240
MAX_REQUEST_SIZE = 10 * 1024 * 1024
MAX_RESPONSE_SIZE = 32 * 1024 * 1024
MAX_REDIRECTS = 5
DEFAULT_DEADLINE = 5.0
REDIRECTS = {301, 302, 303, 307, 308}
KEEP_METHOD = {307, 308}
SERVICE_HEADERS = {"content-length", "host", "vary", "via", "x-forwarded-for"}
USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine; appid: {app_id})"
CHUNK = 64 * 1024


def allowed_port(port: int) -> bool:
    return 80 <= port <= 90 or 440 <= port <= 450 or 1024 <= port <= 65535


class _Deadline:
    """The time left of the whole fetch; raises DEADLINE_EXCEEDED once it is spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise ApplicationError(DEADLINE_EXCEEDED, f"Deadline of {self.seconds:g}s exceeded.")
        return remaining


class Fetcher:
    """One fetch: URL rules, the request, redirects, and the response's limits."""

    def __init__(self, app_id: str) -> None:
        self.user_agent = USER_AGENT.format(app_id=app_id.split("~", 1)[-1])

    def target(self, url: str) -> Tuple[str, str, int, str]:
        """(scheme, host, port, path with query) of an allowed URL, else INVALID_URL."""
        if len(url) > MAX_URL_LENGTH:
            raise ApplicationError(INVALID_URL, f"URL is longer than {MAX_URL_LENGTH} characters.")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ApplicationError(INVALID_URL, f"Invalid protocol {parts.scheme!r} in {url!r}: use http or https.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ApplicationError(INVALID_URL, f"Invalid port in {url!r}.") from None
        if not parts.hostname:
            raise ApplicationError(INVALID_URL, f"Missing host in {url!r}.")
        if not allowed_port(port):
            raise ApplicationError(INVALID_URL, f"Port {port} is not allowed (80-90, 440-450, 1024-65535).")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.scheme, parts.hostname, port, path

    def headers(self, request: Any) -> Tuple[List[Tuple[str, str]], bool]:
        """The headers to send, and whether the app asked for an encoding itself."""
        out: List[Tuple[str, str]] = []
        own_encoding = False
        agent = self.user_agent
        for header in request.header:
            lower = header.Key.lower()
            if lower in SERVICE_HEADERS:
                continue
            if lower == "user-agent":
                agent = f"{header.Value} {self.user_agent}"
                continue
            own_encoding |= lower == "accept-encoding"
            out.append((header.Key, header.Value))
        out.append(("User-Agent", agent))
        if not own_encoding:
            out.append(("Accept-Encoding", "gzip"))
        return out, own_encoding

    def fetch(self, request: Any, response: Any) -> None:
        method = METHODS.get(request.Method)
        if method is None:
            raise ApplicationError(INVALID_URL, f"Invalid method {request.Method}.")
        payload: Optional[bytes] = request.Payload if method in BODY_METHODS else None
        if payload is not None and len(payload) > MAX_REQUEST_SIZE:
            raise ApplicationError(PAYLOAD_TOO_LARGE, f"Payload of {len(payload)} bytes is over {MAX_REQUEST_SIZE}.")
        deadline = _Deadline(request.Deadline if request.HasField("Deadline") and request.Deadline > 0 else DEFAULT_DEADLINE)
        validate = request.MustValidateServerCertificate if request.HasField("MustValidateServerCertificate") else True
        headers, own_encoding = self.headers(request)
        url = request.Url
        for _ in range(MAX_REDIRECTS + 1):
            status, reply_headers, content, truncated = self._once(method, url, headers, payload, validate, deadline)
            location = _header(reply_headers, "location")
            if status in REDIRECTS and request.FollowRedirects:
                if location is None:
                    raise ApplicationError(MALFORMED_REPLY, f"Redirect {status} from {url} has no Location header.")
                url = urljoin(url, location)
                if status not in KEEP_METHOD and method not in ("GET", "HEAD"):
                    method, payload = "GET", None
                continue
            self._fill(response, status, reply_headers, content, truncated, own_encoding, method)
            if url != request.Url:
                response.FinalUrl = url
            return
        raise ApplicationError(TOO_MANY_REDIRECTS, f"More than {MAX_REDIRECTS} redirects, last to {url}.")

    def _once(self, method: str, url: str, headers: List[Tuple[str, str]], payload: Optional[bytes], validate: bool,
              deadline: _Deadline) -> Tuple[int, List[Tuple[str, str]], bytes, bool]:
        scheme, host, port, path = self.target(url)
        if scheme == "https":
            context = ssl.create_default_context() if validate else ssl._create_unverified_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=deadline.left(),
                                                                           context=context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=deadline.left())
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for key, value in headers:
                conn.putheader(key, value)
            if payload is not None:
                conn.putheader("Content-Length", str(len(payload)))
            conn.endheaders(payload)
            sock = conn.sock  # the response reads through it: its timeout is the deadline's rest
            sock.settimeout(deadline.left())
            reply = conn.getresponse()
            content, truncated = b"", False
            if method != "HEAD":
                content, truncated = _read(reply, sock, deadline)
            return reply.status, reply.getheaders(), content, truncated
        except ApplicationError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise ApplicationError(SSL_CERTIFICATE_ERROR, f"{url}: {exc.verify_message or exc}") from None
        except ssl.SSLError as exc:
            raise ApplicationError(SSL_CERTIFICATE_ERROR, f"{url}: {exc}") from None
        except (socket.timeout, TimeoutError):
            raise ApplicationError(DEADLINE_EXCEEDED, f"Deadline of {deadline.seconds:g}s exceeded fetching {url}.") from None
        except socket.gaierror as exc:
            raise ApplicationError(DNS_ERROR, f"DNS lookup failed for {host}: {exc}") from None
        except ConnectionRefusedError as exc:
            raise ApplicationError(CONNECTION_ERROR, f"Could not connect to {host}:{port}: {exc}") from None
        except http.client.RemoteDisconnected as exc:
            raise ApplicationError(CLOSED, f"{url}: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise ApplicationError(FETCH_ERROR, f"{url}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    @staticmethod
    def _fill(response: Any, status: int, headers: List[Tuple[str, str]], content: bytes, truncated: bool,
              own_encoding: bool, method: str) -> None:
        if status >= 600:
            raise ApplicationError(FETCH_ERROR, f"Status {status} unknown.")
        encoding = (_header(headers, "content-encoding") or "").lower()
        decoded = False
        if encoding == "gzip" and not own_encoding and not truncated:
            try:
                content, decoded = gzip.decompress(content), True
            except (OSError, EOFError, zlib.error):
                raise ApplicationError(MALFORMED_REPLY, "The response's gzip body could not be decoded.") from None
            if len(content) > MAX_RESPONSE_SIZE:
                content, truncated = content[:MAX_RESPONSE_SIZE], True
        response.StatusCode = status
        response.Content = content
        response.ContentWasTruncated = truncated
        for key, value in headers:
            lower = key.lower()
            if decoded and lower == "content-encoding":
                continue
            if lower == "content-length" and method != "HEAD":
                value = str(len(content))
            response.header.add(Key=key, Value=value)


def _read(reply: http.client.HTTPResponse, sock: socket.socket, deadline: _Deadline) -> Tuple[bytes, bool]:
    """The body, at most MAX_RESPONSE_SIZE bytes, within the deadline; (content, truncated)."""
    chunks: List[bytes] = []
    size = 0
    while True:
        left = deadline.left()
        try:
            sock.settimeout(left)
        except OSError:  # http.client let go of a `Connection: close` socket: its last timeout stays
            pass
        chunk = reply.read(min(CHUNK, MAX_RESPONSE_SIZE + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_SIZE:
            return b"".join(chunks)[:MAX_RESPONSE_SIZE], True


def _header(headers: List[Tuple[str, str]], name: str) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class URLFetch(ServiceHandler):
    name = "urlfetch"

    def __init__(self, app_id: str) -> None:
        self.fetcher = Fetcher(app_id)

    def methods(self) -> Dict[str, Method]:
        return {"Fetch": (pb().urlfetch.URLFetchRequest, self.fetch)}

    def fetch(self, request: Any, call: Call) -> Any:
        response = pb().urlfetch.URLFetchResponse()
        self.fetcher.fetch(request, response)
        return response
