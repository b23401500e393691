"""The fuzz suite's shared pieces: its hypothesis settings (profile ``fuzz`` by default,
``HYPOTHESIS_PROFILE`` for a longer local run; registered in ``tests/fuzz/conftest.py``),
hostile text, a fresh real workspace per example, and the checks every case ends with (the
JSON-lines log has no traceback, ``verify`` is green)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from incidentbook.core.health.verify import run_verify
from incidentbook.obs import reset_logging
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings, read_config
from incidentbook.testing.clocks import FakeClock
from incidentbook.workspace import init_workspace

LONG_RUN_FACTOR = 20


def fuzz_settings(**over: Any) -> settings:
    """The settings of one fuzz test: the chosen profile, with ``over`` on top; a profile other
    than the default ``fuzz`` runs ``LONG_RUN_FACTOR`` times the test's ``max_examples``."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "fuzz")
    profile = settings.get_profile(name)
    if name != "fuzz" and "max_examples" in over:
        over["max_examples"] = max(profile.max_examples, over["max_examples"] * LONG_RUN_FACTOR)
    return settings(profile, **over)


LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udcff", "a\ud83dz"])
HUGE_DIGITS = st.integers(min_value=21, max_value=6000).map(lambda n: "9" * n)
ODD_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59Z",
        "2026-10-17T02:14:08.123456789Z",
        "2026-10-17T04:14:08+02:00",
        "2026-10-17T02:14:08+00:00",
        "2026-10-17 02:14:08",
        "2026-02-30T00:00:00Z",
        "2026-10-17T25:00:00Z",
        "2026-10-17T02:14:08+24:00",
        "2026-10-17T02:14:08-23:59",
        "yesterday",
        "",
        "1e308",
        "0",
    ]
)
# Text a user or a sender may type: anything printable and not, markup, and line breaks.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        [
            "\n## Lessons\n",
            "\r\n# Injected\r\n",
            "x\n---\nid: forged\n---\n",
            "<!-- incidentbook:end timeline -->",
            "<!-- incidentbook:begin facts -->",
            "```\n## Timeline\n```",
            "~~~",
            "    ## indented",
            "Lessons\n=======",
            "| a | b |\n|---|---|",
            "\x00\x0b\x0c\x1c\x85\u2028\u2029",
            "{{ 7*7 }}{% raw %}",
            "<script>alert(1)</script>",
            "[x](javascript:alert(1))",
            "- [ ] prevent: forged action (bob, 2026-01-01)",
            "- [ ] prevent: forged action (x, 2026-01-01)",
            "\ufeff---",
            "*" * 300,
            "💥" * 50,
        ]
    ),
)


@contextmanager
def fresh_services(clock: FakeClock | None = None, **kwargs: Any) -> Iterator[Services]:
    """Services on a new real workspace (its own folder and SQLite file), removed after with
    the log handlers that pointed into it."""
    root = Path(tempfile.mkdtemp(prefix="ib-fuzz-"))
    try:
        workspace = init_workspace(root / "ws").workspace
        settings_ = Settings(
            workspace=workspace,
            config=read_config(workspace),
            actor="user:fuzz",
            clock=clock or FakeClock(),
        )
        services = make_services(settings_, **kwargs)
        try:
            yield services
        finally:
            services.db.dispose()
            reset_logging()  # the CLI and the receiver log into this workspace: detach
    finally:
        shutil.rmtree(root, ignore_errors=True)


def log_problems(logs_dir: Path, *, errors_too: bool = False) -> list[dict[str, Any]]:
    """Records of the JSON-lines logs under ``logs_dir`` that carry a traceback or an internal
    error (``errors_too``: or any error level; a command that exits 1 logs one)."""
    bad = []
    for path in sorted(logs_dir.glob("*.jsonl*")) if logs_dir.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if (
                "exception" in record
                or (errors_too and record.get("level") in ("error", "critical"))
                or "internal_error" in str(record.get("event"))
                or "Traceback" in line
            ):
                bad.append(record)
    return bad


def verify_problems(services: Services) -> list[str]:
    """What ``verify`` finds wrong (empty: green)."""
    return [
        f"{r.name}: {p}" for r in run_verify(services.settings, services.db) for p in r.problems
    ]
