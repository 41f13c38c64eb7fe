"""app.yaml, queue.yaml, cron.yaml, dispatch.yaml and index.yaml: load, validate (errors carry
file:line:col and key path), frozen models.

Public entry points are re-exported here; `models` holds the frozen dataclasses everything else reads.
Imports: the standard library and yaml only.
"""
from gae_emu.config.appyaml import format_handler_table, load_app_yaml, load_builtin_app_yaml
from gae_emu.config.errors import ConfigError
from gae_emu.config.queueyaml import QueueConfigWatcher, load_queue_yaml

__all__ = ["ConfigError", "QueueConfigWatcher", "format_handler_table", "load_app_yaml",
           "load_builtin_app_yaml", "load_queue_yaml"]
