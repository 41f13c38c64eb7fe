"""Settings of the fuzz suite (hypothesis): a few examples per target in the normal run, as many as
`GAE_EMU_FUZZ_EXAMPLES` says for a long run (`GAE_EMU_FUZZ_EXAMPLES=5000 pytest tests/fuzz`).

Every target states one property: malformed input gets the front door's own error (a located config
problem, a 400 with a JSON body, a BAD_REQUEST application error), never a traceback or a 500.
"""
from __future__ import annotations

import os

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
