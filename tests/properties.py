"""How many examples each Hypothesis property runs: its full budget under Hypothesis's "ci" profile (loaded
by Hypothesis itself when CI is set, and by .ci/run with --hypothesis-profile=ci), a fifth of it (at least
10) elsewhere, so that `make test` on a developer's machine stays quick. Every property still runs with
the same strategies and assertions; `.venv/bin/pytest --hypothesis-profile=ci` runs the full budgets."""

from __future__ import annotations

from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings

FULL_PROFILE = "ci"
DEV_SHARE = 5  # elsewhere: one example in DEV_SHARE
DEV_MINIMUM = 10


def examples(full: int) -> int:
    """The number of examples for a property whose full (CI) budget is `full`."""
    if hyp_settings.get_current_profile_name() == FULL_PROFILE:
        return full
    return min(full, max(DEV_MINIMUM, -(-full // DEV_SHARE)))


def budget(full: int, **options) -> hyp_settings:
    """Hypothesis settings for one property: `examples(full)` examples, no deadline (the first example pays
    for imports), no example database; the function-scoped fixture check is off because the only fixture
    used with @given is a factory that builds a fresh database per example (see `fresh_yehe`)."""
    return hyp_settings(max_examples=examples(full), deadline=None, database=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], **options)
