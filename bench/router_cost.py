"""Router cost per request for an app.yaml with 100 handlers vs 3, measured in-process.

The request matches the *last* handler (a catch-all after 2 or 99 non-matching `url:` patterns),
the worst case of first-match routing. Each figure is the median of `rounds` timings of `requests`
calls of `ServiceRouter.handle`; the same WSGI app called directly is the baseline, so
"router overhead" is what routing adds on top of the app.

Imports: the standard library, werkzeug, `gae_emu` (config, runtime).
"""
from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

from werkzeug.test import EnvironBuilder

MODULE = "gae_emu_bench_router_app"
APP_SOURCE = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def write_app(root: Path, handlers: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{MODULE}.py").write_text(APP_SOURCE)
    lines = ["runtime: python27", "api_version: 1", "threadsafe: true", "handlers:"]
    for i in range(handlers - 1):
        lines += [f"- url: /section{i}/(item|list)/[0-9]+", f"  script: {MODULE}.app"]
    lines += ["- url: /.*", f"  script: {MODULE}.app"]
    (root / "app.yaml").write_text("\n".join(lines) + "\n")
    return root


def _environ() -> dict:
    builder = EnvironBuilder(path="/catch/all/path", method="GET", headers={"Host": "localhost:8080"})
    environ = builder.get_environ()
    builder.close()
    return environ


def measure(handlers: int, requests: int = 3000, rounds: int = 5) -> Dict[str, float]:
    from gae_emu.config.appyaml import load_app_yaml, load_builtin_app_yaml
    from gae_emu.runtime.builtin import builtin_app_yaml
    from gae_emu.runtime.environ import ServiceIdentity
    from gae_emu.runtime.loader import ScriptLoader
    from gae_emu.runtime.router import ServiceRouter

    with tempfile.TemporaryDirectory(prefix="gae-emu-bench-router-") as tmp:
        root = write_app(Path(tmp) / f"app{handlers}", handlers)
        config = load_app_yaml(root)
        identity = ServiceIdentity(app=config, hostname="localhost:8080", default_hostname="localhost:8080")
        router = ServiceRouter(identity, load_builtin_app_yaml(builtin_app_yaml()), ScriptLoader(root))
        template = _environ()
        assert router.match("/catch/all/path") is router.handlers[-1]

        def one() -> None:
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO(b"")
            response = router.handle(environ)
            assert response.status_code == 200
            response.close()

        app = router.loader.load(router.handlers[-1].script)

        def direct() -> None:
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO(b"")
            b"".join(app(environ, lambda status, headers: None))

        for _ in range(200):
            one()
        routed, bare = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(requests):
                one()
            routed.append((time.perf_counter() - start) / requests)
            start = time.perf_counter()
            for _ in range(requests):
                direct()
            bare.append((time.perf_counter() - start) / requests)
        sys.modules.pop(MODULE, None)  # the next measurement imports its own copy
        if str(root) in sys.path:
            sys.path.remove(str(root))
        total = statistics.median(routed)
        baseline = statistics.median(bare)
        return {"handlers": len(router.handlers), "us_per_request": total * 1e6,
                "us_overhead": (total - baseline) * 1e6}


def compare(requests: int = 3000, rounds: int = 5) -> Dict[str, Dict[str, float]]:
    return {"3": measure(3, requests, rounds), "100": measure(100, requests, rounds)}


if __name__ == "__main__":
    import json

    print(json.dumps(compare(), indent=2))
