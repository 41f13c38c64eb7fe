"""The admin console's Cron page and JSON API: cron.yaml's jobs, their next and last runs, Run now.

A run started here goes through the emulator's delivery like a scheduled one (the front end, login
rules, `X-AppEngine-Cron: true`) and is recorded as the job's last run; its schedule is unchanged.
`advance` moves the cron service's clock forward, so a test (or a user) need not wait for a job.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.services.cron`, the console's
`admin_html`.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from werkzeug.exceptions import BadRequest, NotFound, ServiceUnavailable
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gae_emu import apiproxy
from gae_emu.services.cron.service import CronService, JobState, UnknownJobError

from .admin_html import html, join, layout, post_button, table, url, when, with_query

if TYPE_CHECKING:
    from .admin import Context


def _cron() -> CronService:
    cron = apiproxy.current().settings.get("cron")
    if cron is None:
        raise ServiceUnavailable("No cron service is running in this process.")
    return cron


def _iso(moment: Optional[dt.datetime], zone: Any) -> Optional[str]:
    return moment.astimezone(zone).isoformat() if moment is not None else None


def job_dict(state: JobState) -> Dict[str, Any]:
    job = state.job
    return {
        "url": job.url, "schedule": job.schedule, "description": job.description, "target": job.target,
        "timezone": job.timezone, "next_run": _iso(state.next_run, job.zone),
        "last_run": _iso(state.last_run, job.zone), "last_status": state.last_status,
        "last_duration": state.last_duration, "retry_at": _iso(state.retry_at, job.zone),
        "retries": state.retries, "running": state.running, "source": job.source,
    }


def jobs() -> List[Dict[str, Any]]:
    return [job_dict(state) for state in _cron().states()]


def run_now(job_url: str) -> Dict[str, Any]:
    execute = apiproxy.current().settings.get("cron_execute")
    if execute is None:
        raise ServiceUnavailable("Cron jobs cannot be run in this process.")
    try:
        status = _cron().run_now(job_url, execute)
    except UnknownJobError as exc:
        raise NotFound(str(exc)) from None
    return {"url": job_url, "status": status}


# -- JSON API ----------------------------------------------------------------------------------------


def _body(ctx: Context) -> Dict[str, Any]:
    data = ctx.request.get_json(force=True, silent=True) if ctx.request.content_length else None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def api_jobs(ctx: Context) -> Dict[str, Any]:
    cron = _cron()
    return {"jobs": jobs(), "now": cron.now().isoformat()}


def api_run(ctx: Context) -> Dict[str, Any]:
    job_url = _body(ctx).get("url")
    if not isinstance(job_url, str):
        raise BadRequest("url must be the job's url.")
    return run_now(job_url)


def api_advance(ctx: Context) -> Dict[str, Any]:
    seconds = _body(ctx).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 10 * 366 * 86400:
        raise BadRequest("seconds must be a number from 0 to ten years.")
    return {"now": _cron().advance(float(seconds)).isoformat()}


# -- HTML --------------------------------------------------------------------------------------------


def page(ctx: Context) -> str:
    states = _cron().states()
    rows = []
    for state in states:
        job = state.job
        status = "" if state.last_status is None else (state.last_status or "no response")
        rows.append([job.description or "", html("<code>{}</code>", job.url), job.schedule, job.timezone,
                     job.target or "default", when(state.next_run.timestamp() if state.next_run else None),
                     when(state.last_run.timestamp() if state.last_run else None), status,
                     post_button(url(ctx.base, "cron", "run"), "Run now", ctx.token, "run",
                                 hidden={"url": job.url})])
    body = join([
        html("<p>Jobs of cron.yaml; a run started here is a GET with <code>X-AppEngine-Cron: true</code>, "
             "as the scheduled ones.</p>"),
        table(["Description", "URL", "Schedule", "Time zone", "Target", "Next run", "Last run", "Last status", ""],
              rows, "No cron jobs (no cron.yaml).", [f"cron-{i}" for i in range(len(rows))]),
    ])
    return layout("Cron jobs", body, ctx.base, ctx.request.args.get("msg"), ctx.request.args.get("error") == "1")


def run_form(ctx: Context) -> Response:
    job_url = ctx.request.form.get("url", "")
    result = run_now(job_url)
    return redirect(with_query(url(ctx.base, "cron"), msg=f"Ran {job_url}: status {result['status']}"), code=303)
