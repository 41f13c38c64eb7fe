"""The emulated cron service: when each job of cron.yaml runs next, which jobs are due, their history.

No HTTP here: the runtime supplies `execute(job) -> status` (a GET through the front end).

Imports: the standard library, `gae_emu.config`.
"""
