"""Regenerate cron_reference.json: next run times from Google's own schedule parser.

Run with a plain python3 on a machine with the Cloud SDK's App Engine component installed
(`gcloud` on PATH): `python3 -S tests/config/make_cron_reference.py` (`-S`: no site-packages, so an
installed `google.appengine` cannot shadow the SDK's). `--eval` answers JSON requests on stdin. The SDK is only read here, to
produce expected values; gae-emu never imports it. The SDK's pytz has no zone files of its own, so
they are read from the system's zone files (`zoneinfo.TZPATH`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import zoneinfo
from pathlib import Path

SCHEDULES = [
    "every 1 minutes", "every 5 minutes", "every 5 mins", "every 7 minutes", "every 90 minutes",
    "every 1 hours", "every 3 hours", "every 24 hours", "every 25 hours",
    "every 30 minutes synchronized", "every 2 hours synchronized", "every 3 hours synchronized",
    "every 24 hours synchronized",
    "every 5 minutes from 10:00 to 14:00", "every 20 minutes from 01:00 to 03:00",
    "every 45 minutes from 01:30 to 02:45", "every 2 hours from 22:00 to 04:00",
    "every 15 minutes from 02:15 to 02:45",
    "every 10 minutes on mon,wed,fri", "every 1 hours on sun", "every 3 hours from 00:00 to 23:59 on sat,sun",
    "every day 00:00", "every day 01:30", "every day 02:30", "every day 9:05", "every day 23:59",
    "every monday 09:00", "every mon,wed,fri 17:30", "every sunday 02:00", "every sat,sun 01:15",
    "1st monday of month 09:00", "1st,3rd monday of sep,oct,nov 17:00", "first,third mon of month 08:00",
    "2nd,4th tue of month 12:00", "last", "5th sun of month 01:30", "fourth,fifth fri of month 23:00",
    "every tue of jan,mar,oct 07:45", "2nd sun of mar 02:30", "1st sun of nov 01:30",
    "1 of month 00:00", "1,15 of month 09:30", "31 of month 12:00", "29 of feb 06:00",
    "1st day of month 10:00", "1st,15th day of month 10:00",
    "1 of quarter 00:00", "1st mon of quarter 09:00", "first monday of second month of quarter 09:00",
    "15 of first,third month of quarter 18:00", "every day of quarter 05:00",
    "every monday of jan,apr,jul,oct 02:30",
]
ZONES = {
    "America/New_York": [dt.datetime(2026, 3, 7, 12, 0), dt.datetime(2026, 10, 31, 12, 0, 30)],
    "Europe/London": [dt.datetime(2026, 3, 28, 12, 0), dt.datetime(2026, 10, 24, 12, 0, 30)],
}
RUNS = 6


def _sdk() -> Path:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise SystemExit("gcloud is not on PATH: the reference parser comes with the Cloud SDK")
    return Path(os.path.realpath(gcloud)).parent.parent / "platform" / "google_appengine"


def reference():
    """The SDK's GrocTimeSpecification factory and pytz, or None when not installed."""
    sdk = _sdk()
    if not (sdk / "google" / "appengine" / "cron").is_dir():
        return None
    sys.path[:0] = [str(sdk), str(sdk / "lib" / "py3_antlr3"), str(sdk / "lib" / "pytz"), str(sdk / "lib" / "six")]
    import pytz  # the SDK's copy

    def open_resource(name: str):
        for folder in zoneinfo.TZPATH:  # the system's zone files, where the standard library looks
            path = os.path.join(folder, *name.lstrip("/").split("/"))
            if os.path.isfile(path):
                return open(path, "rb")
        raise FileNotFoundError(name)

    pytz.open_resource = open_resource
    from google.appengine.cron import groctimespecification

    return groctimespecification.GrocTimeSpecification, pytz


def evaluate(requests: list) -> list:
    """For each {"schedule", "timezone", "after", "runs"}: the reference's next run times (UTC ISO
    strings) or {"error": name} when it rejects the schedule."""
    found = reference()
    if found is None:
        raise SystemExit("the Cloud SDK's App Engine component is not installed")
    spec_of, pytz = found
    answers = []
    for req in requests:
        try:
            spec = spec_of(req["schedule"], req["timezone"])
            start = dt.datetime.fromisoformat(req["after"]).astimezone(pytz.utc)
            answers.append({"runs": [t.astimezone(pytz.utc).isoformat() for t in spec.GetMatches(start, req["runs"])]})
        except Exception as exc:  # the parser rejects it
            answers.append({"error": type(exc).__name__})
    return answers


def main() -> None:
    if sys.argv[1:] == ["--eval"]:  # used by the tests: JSON requests on stdin, answers on stdout
        json.dump(evaluate(json.load(sys.stdin)), sys.stdout)
        return
    requests = [{"schedule": schedule, "timezone": zone, "after": start.isoformat() + "+00:00", "runs": RUNS}
                for schedule in SCHEDULES for zone, starts in ZONES.items() for start in starts]
    cases = []
    for req, answer in zip(requests, evaluate(requests)):
        if "error" in answer:
            if not any(c["schedule"] == req["schedule"] and c["timezone"] == req["timezone"] for c in cases):
                cases.append({"schedule": req["schedule"], "timezone": req["timezone"], "error": answer["error"]})
        else:
            cases.append({"schedule": req["schedule"], "timezone": req["timezone"], "after": req["after"],
                          "runs": answer["runs"]})
    out = Path(__file__).with_name("cron_reference.json")
    out.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"{len(cases)} cases written to {out}")


if __name__ == "__main__":
    main()
