"""Settings of the fuzz suite (hypothesis): a few examples per target in the normal run, as many as
`GAE_EMU_FUZZ_EXAMPLES` says for a long run (`GAE_EMU_FUZZ_EXAMPLES=5000 pytest tests/fuzz`).

Every target states one property: malformed input gets the front door's own error (a located config
problem, a 400 with a JSON body, a BAD_REQUEST application error), never a traceback or a 500.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("GAE_EMU_FUZZ_EXAMPLES", "30"))

settings.register_profile(
    "gae-emu-fuzz",
    max_examples=EXAMPLES,
    deadline=None,  # a shared 2-core machine makes per-example timing meaningless
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,  # no .hypothesis folder in the worktree; failures print their example
    print_blob=True,
)
settings.load_profile("gae-emu-fuzz")

_COUNTS: Dict[str, int] = {}


@pytest.fixture
def counted(request: pytest.FixtureRequest) -> Callable[[], None]:
    """Call once per example; the run's summary lists how many cases each target ran."""
    _COUNTS.setdefault(request.node.nodeid, 0)

    def count() -> None:
        _COUNTS[request.node.nodeid] += 1

    return count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _COUNTS:
        terminalreporter.section("fuzz cases run")
        for nodeid, n in sorted(_COUNTS.items()):
            terminalreporter.write_line(f"{n:8d}  {nodeid}")
        terminalreporter.write_line(f"{sum(_COUNTS.values()):8d}  in all ({len(_COUNTS)} targets)")
