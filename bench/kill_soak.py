"""Nothing acknowledged is lost (issue 12): SIGKILL the real `gae-emu dev` again and again while app
code defers tasks, restart it on the same storage, and count.

    python -m bench.kill_soak [--kills 20] [--kind classic|python3]

Each cycle starts the server, a client thread asks the app to defer batches of tasks (an HTTP 200
means the batch was acknowledged), and after a random 0.5-2.5 s the server is killed with SIGKILL.
After the last cycle the server runs until every acknowledged task has run. Each task appends its
id to a file; the report gives acknowledged, run, lost (acknowledged, never run) and duplicates
(run more than once: at-least-once delivery allows them). Every process started here is stopped
here; all traffic is loopback.

Imports: the standard library, gae_emu.testing, and the restart test's app.
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from gae_emu.testing import emulator  # noqa: E402
from test_restart_safety import make_app  # noqa: E402

BATCH = 20


def enqueue_until(url: str, stop: threading.Event, acknowledged: list, counter: list) -> None:
    while not stop.is_set():
        base = counter[0]
        counter[0] += BATCH
        try:
            with urllib.request.urlopen(f"{url}/enqueue?n={BATCH}&base={base}", timeout=30) as resp:
                if resp.status == 200:
                    acknowledged.extend(f"t{i}" for i in range(base, base + BATCH))
        except Exception:  # the server was killed mid-request: not acknowledged
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kind", choices=("classic", "python3"), default="classic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="gae-emu-kill-soak-"))
    try:
        root = make_app(tmp / "app", args.kind)
        storage = tmp / "storage"
        acknowledged: list = []
        counter = [0]
        for cycle in range(args.kills):
            with emulator(root, storage_path=storage) as emu:
                stop = threading.Event()
                thread = threading.Thread(target=enqueue_until, args=(emu.url, stop, acknowledged, counter))
                thread.start()
                time.sleep(rng.uniform(0.5, 2.5))
                emu.process.kill()
                emu.process.wait()
                stop.set()
                thread.join(30)
            print(f"cycle {cycle + 1}: killed; {len(acknowledged)} acknowledged so far", file=sys.stderr)
        log = root / "ran.log"
        with emulator(root, storage_path=storage):
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                ran = set(log.read_text().split()) if log.exists() else set()
                if ran >= set(acknowledged):
                    break
                time.sleep(0.5)
        runs = collections.Counter(log.read_text().split()) if log.exists() else collections.Counter()
        lost = [t for t in acknowledged if t not in runs]
        print(json.dumps({"kind": args.kind, "kills": args.kills, "acknowledged": len(acknowledged),
                          "ran": len(runs), "lost": len(lost), "duplicates": sum(c - 1 for c in runs.values() if c > 1),
                          "ran_unacknowledged": len(set(runs) - set(acknowledged))}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
