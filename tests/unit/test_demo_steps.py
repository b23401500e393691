"""The demo's steps are a typed list of real functions (no "module:function" strings)."""

from __future__ import annotations

import inspect

from incidentbook.demo.run import DEMO_STEPS


def test_every_demo_step_is_a_function_taking_services_options_and_report() -> None:
    assert len(DEMO_STEPS) == 5
    for step in DEMO_STEPS:
        assert inspect.isfunction(step), step
        assert len(inspect.signature(step).parameters) == 3, step.__qualname__
    modules = [step.__module__.rsplit(".", 1)[-1] for step in DEMO_STEPS]
    assert modules == ["past_incidents", "ledger", "documents", "alerts", "search"]
