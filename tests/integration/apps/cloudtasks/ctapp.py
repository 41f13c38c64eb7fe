"""Records the task requests App Engine delivers (headers, body, arrival time) per `tag` query
parameter; `codes=503,404` answers those statuses on the first attempts, then 200.

- GET  /runs?tag=T        JSON list of recorded requests, oldest first
- GET  /env               CLOUD_TASKS_EMULATOR_HOST as this instance sees it
- POST /create            creates an App Engine task through google-cloud-tasks on an insecure
                          channel (the README's snippet), JSON {"queue", "uri"} -> {"name"}
- POST /legacy-add        adds a task through the legacy API, JSON {"queue", "name", "url"}
- GET  /legacy-query?queue=Q  the task names QueryTasks answers
"""
import json
import os
import threading
import time

import grpc
from flask import Flask, jsonify, request
from google.appengine.api import apiproxy_stub_map, taskqueue, wrap_wsgi_app
from google.appengine.api.taskqueue import taskqueue_service_bytes_pb2 as tq_pb
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app)

_lock = threading.Lock()
_runs = {}


def tasks_client() -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(os.environ["CLOUD_TASKS_EMULATOR_HOST"])
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@app.route("/task/<path:_rest>", methods=["GET", "POST", "PUT", "DELETE"])
def task(_rest):
    tag = request.args.get("tag", "")
    record = {"at": time.time(), "method": request.method, "path": request.path,
              "headers": {k.lower(): v for k, v in request.headers.items()}, "body": request.get_data(as_text=True)}
    with _lock:
        runs = _runs.setdefault(tag, [])
        runs.append(record)
        attempt = len(runs)
    codes = [int(c) for c in request.args.get("codes", "").split(",") if c]
    time.sleep(float(request.args.get("sleep", "0")))
    if attempt <= len(codes):
        return "failing on purpose", codes[attempt - 1]
    return "ok"


@app.get("/runs")
def runs():
    with _lock:
        return jsonify(list(_runs.get(request.args["tag"], [])))


@app.get("/env")
def env():
    return os.environ.get("CLOUD_TASKS_EMULATOR_HOST", "")


@app.post("/create")
def create():
    spec = request.get_json()
    client = tasks_client()
    parent = client.queue_path(os.environ["GOOGLE_CLOUD_PROJECT"], "us-central1", spec["queue"])
    task = client.create_task(parent=parent, task={"app_engine_http_request": {"relative_uri": spec["uri"]}})
    return jsonify({"name": task.name})


@app.post("/legacy-add")
def legacy_add():
    spec = request.get_json()
    task = taskqueue.add(queue_name=spec["queue"], name=spec["name"], url=spec["url"], countdown=spec.get("countdown", 0))
    return jsonify({"name": task.name})


@app.get("/legacy-query")
def legacy_query():
    req = tq_pb.TaskQueueQueryTasksRequest(queue_name=request.args["queue"].encode(), max_rows=100)
    resp = tq_pb.TaskQueueQueryTasksResponse()
    apiproxy_stub_map.MakeSyncCall("taskqueue", "QueryTasks", req, resp)
    return jsonify([t.task_name.decode() for t in resp.task])
