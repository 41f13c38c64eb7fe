"""Nothing acknowledged is lost (issue 12): SIGKILL the real `gae-emu dev` again and again while app
code defers tasks, restart it on the same storage, and count.

    python -m bench.kill_soak [--kills 20] [--kind classic|python3]

Each cycle starts the server, a client thread asks the app to defer batches of tasks (an HTTP 200
means the batch was acknowledged), and after a random 0.5-2.5 s the server is killed with SIGKILL.
After the last cycle the server runs until every acknowledged task has run. Each task appends its
id to a file; the report gives acknowledged, run, lost (acknowledged, never run) and duplicates
(run more than once: at-least-once delivery allows them). For the classic app each task is named
after its id and also writes an entity keyed by it, so the report counts entities and tombstones
too (every task that ran must have both). Every process started here is stopped here; all traffic
is loopback.

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


CLASSIC_TASKS = '''
import os
from gae_emu.ext import db

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran.log")


class SoakRun(db.Model):
    count = db.IntegerProperty(default=0)


def record(task_id):
    db.run_in_transaction(_bump, task_id)
    with open(LOG, "a") as out:
        out.write(task_id + "\\n")


def _bump(task_id):
    entity = SoakRun.get_by_key_name(task_id) or SoakRun(key_name=task_id)
    entity.count += 1
    entity.put()
'''


def admin_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


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
        if args.kind == "classic":  # named tasks that also write an entity each
            (root / "restarttasks.py").write_text(CLASSIC_TASKS)
            main_file = root / "restartapp.py"
            main_file.write_text(main_file.read_text().replace(
                'deferred.defer(restarttasks.record, "t%d" % i, _countdown=1)',
                'deferred.defer(restarttasks.record, "t%d" % i, _countdown=1, _name="t%d" % i)'))
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
        report: dict = {}
        with emulator(root, storage_path=storage) as emu:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                ran = set(log.read_text().split()) if log.exists() else set()
                if ran >= set(acknowledged):
                    break
                time.sleep(0.5)
            emu.wait_until_idle(timeout=120)
            if args.kind == "classic":
                stones = {t["name"] for t in admin_json(emu.admin_url + "/api/queues/default/tombstones")["tombstones"]}
                entities = admin_json(emu.admin_url + "/api/datastore/entities?kind=SoakRun&limit=1")["total"]
                ran = set(log.read_text().split()) if log.exists() else set()
                report.update(entities=entities, entities_lost=len(ran) - entities if entities < len(ran) else 0,
                              tombstones=len(stones), tombstones_lost=len(ran - stones))
        runs = collections.Counter(log.read_text().split()) if log.exists() else collections.Counter()
        lost = [t for t in acknowledged if t not in runs]
        print(json.dumps({"kind": args.kind, "kills": args.kills, "acknowledged": len(acknowledged),
                          "ran": len(runs), "lost": len(lost), "duplicates": sum(c - 1 for c in runs.values() if c > 1),
                          "ran_unacknowledged": len(set(runs) - set(acknowledged)), **report}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
