"""The fuzz suite's hypothesis profiles, registered here and applied per test (through
``tests.support.fuzz.fuzz_settings``, so the rest of the suite keeps hypothesis's defaults):
``fuzz``, the default, few examples and derandomized, so the whole folder runs in well under a
minute on one core and every run tries the same cases; ``fuzz-long``
(``HYPOTHESIS_PROFILE=fuzz-long``), many random examples, for a local soak."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = {
    # Each example may build a real workspace and SQLite file; the fixtures it shares are
    # read-only (a workspace per example is made inside the test).
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    "deadline": 5000,  # ms per example: a hang is a failure, never a slow pass
    "print_blob": True,
}
settings.register_profile("fuzz", max_examples=20, derandomize=True, database=None, **_COMMON)
settings.register_profile("fuzz-long", max_examples=400, derandomize=False, **_COMMON)
