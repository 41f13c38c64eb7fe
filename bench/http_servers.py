"""Which HTTP server carries gae-emu's hops (issue 13): the round trip of a small POST, as the API
server and the front end → instance hop see it, for each candidate WSGI server on loopback.

    python -m bench.http_servers [--requests 3000]

Candidates: werkzeug's development server (what gae-emu used; it closes every connection, so
each request is a new TCP connection and a new thread), gae-emu's own standard-library HTTP/1.1
server (`gae_emu/runtime/instance_server.py`, kept-alive connections), and waitress and cheroot
when they are installed (`pip install waitress cheroot`). The client is `http.client` with one
kept-alive connection (a new one per request where the server closes it). Prints p50/p99 per
request and requests/s.

Imports: the standard library, gae_emu, and the candidates when installed.
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import socket
import statistics
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

BODY = b"x" * 200


def app(environ: dict, start_response: Callable) -> List[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))])
    return [data]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def werkzeug_server(port: int) -> Tuple[Callable[[], None], Callable[[], None]]:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request would measure the console

    server = make_server("127.0.0.1", port, app, threaded=True)
    return server.serve_forever, server.shutdown


def gae_emu_server(port: int) -> Tuple[Callable[[], None], Callable[[], None]]:
    from gae_emu.runtime.instance_server import WSGIRequestHandler, WSGIServer

    server = WSGIServer(("127.0.0.1", port), WSGIRequestHandler, app)
    return server.serve_forever, server.shutdown


def waitress_server(port: int) -> Tuple[Callable[[], None], Callable[[], None]]:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    return server.run, server.close


def cheroot_server(port: int) -> Tuple[Callable[[], None], Callable[[], None]]:
    from cheroot import wsgi

    server = wsgi.Server(("127.0.0.1", port), app, numthreads=4)
    server.prepare()
    return server.serve, server.stop


CANDIDATES: Dict[str, Tuple[Optional[str], Callable]] = {
    "werkzeug dev server": ("werkzeug", werkzeug_server),
    "gae-emu stdlib HTTP/1.1": (None, gae_emu_server),
    "waitress": ("waitress", waitress_server),
    "cheroot": ("cheroot", cheroot_server),
}


def measure(start: Callable, requests: int) -> Dict[str, float]:
    port = free_port()
    serve, stop = start(port)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.01)
    conn: Optional[http.client.HTTPConnection] = None
    times, reconnects = [], 0
    t0 = time.perf_counter()
    for _ in range(requests):
        started = time.perf_counter()
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            reconnects += 1
        conn.request("POST", "/rpc_http", BODY, {"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        assert response.read() == BODY
        if response.will_close:
            conn.close()
            conn = None
        times.append(time.perf_counter() - started)
    total = time.perf_counter() - t0
    if conn is not None:
        conn.close()
    stop()
    times.sort()
    return {"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)], "rps": requests / total,
            "connections": reconnects}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    print(f"| server | p50 | p99 | requests/s | TCP connections for {args.requests:,} requests |")
    print("|---|---|---|---|---|")
    for name, (module, start) in CANDIDATES.items():
        if module and importlib.util.find_spec(module) is None:
            print(f"| {name} | not installed | | | |")
            continue
        runs = [measure(start, args.requests) for _ in range(3)]
        best = min(runs, key=lambda r: r["p50"])
        print(f"| {name} | {best['p50'] * 1e3:.3f} ms | {best['p99'] * 1e3:.3f} ms | "
              f"{statistics.median(r['rps'] for r in runs):,.0f} | {best['connections']:,} |")


if __name__ == "__main__":
    main()
