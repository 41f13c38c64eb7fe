"""The app of tests/integration/test_full_disk.py: /add?n=N&countdown=S adds N tasks of 2 KB
(503 with the error's name when the task queue refuses), /work is the tasks' handler."""
from urllib.parse import parse_qs

from gae_emu.api import taskqueue


def app(environ, start_response):
    if environ["PATH_INFO"] == "/add":
        args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        tasks = [taskqueue.Task(url="/work", payload=b"p" * 2048, countdown=float(args.get("countdown", 0)))
                 for _ in range(int(args.get("n", 1)))]
        try:
            taskqueue.Queue("default").add(tasks)
        except taskqueue.Error as exc:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [type(exc).__name__.encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % len(tasks)]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
