"""`gae-emu` with cProfile in every thread: `python bench/cprofile_server.py dev APP ...`.

The hook for profiling the server from the benchmark without touching gae_emu/: when
GAE_EMU_BENCH_CPROFILE names a file, each thread started from here on (dispatcher, workers, HTTP
request threads) and the main thread run under their own cProfile.Profile, and the merged stats are
written to that file when the server exits (SIGTERM). Without the variable it is plain `gae-emu`.

Imports: the standard library and `gae_emu.cli`.
"""
from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
from typing import List

OUT = os.environ.get("GAE_EMU_BENCH_CPROFILE")
_profiles: List[cProfile.Profile] = []
_lock = threading.Lock()


def _install() -> cProfile.Profile:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main_profile = cProfile.Profile()
    _profiles.append(main_profile)
    main_profile.enable()
    return main_profile


def _dump(main_profile: cProfile.Profile) -> None:
    main_profile.disable()
    with _lock:
        profiles = list(_profiles)
    stats = None
    for profile in profiles:
        try:
            stats = pstats.Stats(profile) if stats is None else (stats.add(profile) or stats)
        except TypeError:  # a thread that never recorded anything
            continue
    if stats is not None and OUT:
        stats.dump_stats(OUT)


def main() -> None:
    sys.argv = ["gae-emu"] + sys.argv[1:]
    main_profile = _install() if OUT else None
    import gae_emu.cli as cli
    from gae_emu.cli import main as cli_main

    if main_profile is not None:  # `gae-emu dev` ends with os._exit, past any finally: dump first
        exit_now = cli._exit_now

        def dump_then_exit(code: int) -> None:
            _dump(main_profile)
            exit_now(code)

        cli._exit_now = dump_then_exit  # type: ignore[assignment]
    try:
        cli_main()
    finally:
        if main_profile is not None:
            _dump(main_profile)


if __name__ == "__main__":
    main()
