"""Which files make up an app, as `gcloud app deploy` and dev_appserver take them.

Each command-line path is taken by its base name: `cron.yaml`, `dispatch.yaml`, `index.yaml` and
`queue.yaml` (or `queue.yml`) are those configurations; anything else (a directory, or any other
yaml file) is a service's app.yaml. A configuration not named on the command line is read from
beside the default service's app.yaml, when it is there.

Imports: the standard library, `gae_emu.config.*`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from gae_emu.config.cronyaml import CronConfig, load_cron_yaml
from gae_emu.config.dispatchyaml import DispatchConfig, check_services, load_dispatch_yaml
from gae_emu.config.errors import ConfigError, Problem
from gae_emu.config.indexyaml import IndexConfig, load_index_yaml
from gae_emu.config.models import QueueConfig
from gae_emu.config.queueyaml import load_queue_yaml

# kind -> the base names that mean it
CONFIG_FILES: Dict[str, Tuple[str, ...]] = {
    "cron": ("cron.yaml",),
    "dispatch": ("dispatch.yaml",),
    "index": ("index.yaml",),
    "queue": ("queue.yaml", "queue.yml"),
}


@dataclass(frozen=True)
class ConfigFile:
    path: Path  # absolute
    display: str  # as the user gave it, or as found beside app.yaml


@dataclass
class AppFiles:
    """The command line sorted: app.yaml paths (as given) and named configuration files."""

    apps: List[str] = field(default_factory=list)
    named: Dict[str, ConfigFile] = field(default_factory=dict)

    def resolve(self, default_root: Path, default_display_dir: str) -> Dict[str, Optional[ConfigFile]]:
        """Every kind's file: the one named, else the one beside the default app.yaml, else None."""
        found: Dict[str, Optional[ConfigFile]] = {}
        for kind, names in CONFIG_FILES.items():
            if kind in self.named:
                found[kind] = self.named[kind]
                continue
            found[kind] = None
            for name in names:
                candidate = Path(default_root) / name
                if candidate.is_file():
                    found[kind] = ConfigFile(candidate.resolve(), os.path.join(default_display_dir, name))
                    break
        return found


def kind_of(path: str) -> Optional[str]:
    """'cron' for .../cron.yaml and so on; None for a service (a directory or another file)."""
    base = os.path.basename(os.path.normpath(path))
    for kind, names in CONFIG_FILES.items():
        if base in names and not os.path.isdir(path):
            return kind
    return None


def sort_arguments(paths: Sequence[str]) -> AppFiles:
    """Split the command line; the same configuration named twice is an error."""
    files = AppFiles()
    problems: List[Problem] = []
    for path in paths:
        kind = kind_of(path)
        if kind is None:
            files.apps.append(path)
        elif kind in files.named:
            problems.append(Problem(path, f"a second {kind} file; {files.named[kind].display} is already given"))
        else:
            files.named[kind] = ConfigFile(Path(path).resolve(), path)
    if problems:
        raise ConfigError(problems)
    return files


@dataclass(frozen=True)
class AppExtras:
    """The app's other configuration files, validated (empty configs where a file is absent)."""

    files: Dict[str, Optional[ConfigFile]]
    queue: QueueConfig
    cron: CronConfig
    dispatch: DispatchConfig
    index: IndexConfig


def load_extra(kind: str, file: Optional[ConfigFile]):  # -> the kind's config
    """One kind's config from its file (or the empty config when there is none)."""
    if kind == "queue":
        if file is None or not file.path.is_file():
            return QueueConfig()
        return load_queue_yaml(file.path.parent, display_root=os.path.dirname(file.display))
    empty = {"cron": CronConfig(), "dispatch": DispatchConfig(), "index": IndexConfig()}[kind]
    if file is None or not file.path.exists():
        return empty
    loader = {"cron": load_cron_yaml, "dispatch": load_dispatch_yaml, "index": load_index_yaml}[kind]
    return loader(file.path, file.display)


def load_extras(files: Dict[str, Optional[ConfigFile]], services: Sequence[str]) -> AppExtras:
    """Validate every file; all their problems are raised together as one ConfigError."""
    problems: List[Problem] = []
    loaded: Dict[str, object] = {}
    for kind in CONFIG_FILES:
        try:
            loaded[kind] = load_extra(kind, files.get(kind))
        except ConfigError as exc:
            problems.extend(exc.details)
    dispatch = loaded.get("dispatch")
    if isinstance(dispatch, DispatchConfig):
        try:
            check_services(dispatch, services)
        except ConfigError as exc:
            problems.extend(exc.details)
    if problems:
        raise ConfigError(problems)
    return AppExtras(files=dict(files), **loaded)  # type: ignore[arg-type]
