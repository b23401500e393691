"""Runbooks: loading (with and without front matter), the linking rules of DESIGN §6, lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.runbooks.lint import lint_runbooks
from incidentbook.core.runbooks.loader import load_runbooks
from incidentbook.core.runbooks.matching import match_runbooks
from incidentbook.core.runbooks.model import Matcher, parse_pairs
from incidentbook.errors import UsageError
from incidentbook.resources import shipped_dir
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import Cli

KUBE = """# KubePodCrashLooping

## Meaning

Pod {{ $labels.namespace }}/{{ $labels.pod }} is in waiting state (reason: "CrashLoopBackOff").

## Impact

Service degradation or unavailability.

## Diagnosis

- Check the pod's events with `kubectl -n $NAMESPACE describe pod $POD`.
- Check the pod's logs with `kubectl -n $NAMESPACE logs $POD -c $CONTAINER`.

## Mitigation

See the container's logs; if an OOMKill, raise its memory limit.
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / "runbooks" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def front(**meta: object) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def rules(matches: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(m.runbook.id, m.rule) for m in matches]


def test_runbook_without_front_matter_loads_and_links_by_first_heading(
    settings: Settings, workspace: Path
) -> None:
    write(workspace, "k8s/pod-crash.md", KUBE)
    rb = load_runbooks(settings).get("pod-crash")
    assert rb is not None
    assert rb.title == "KubePodCrashLooping"
    assert rb.source == "workspace"
    found = match_runbooks(settings, "KubePodCrashLooping", {"namespace": "x"}, suggestions=0)
    assert rules(found) == [("pod-crash", "name")]
    assert "first heading" in found[0].reason


def test_runbook_linked_by_file_name_case_and_separators_insensitive(
    settings: Settings, workspace: Path
) -> None:
    write(workspace, "kube-pod-crash-looping.md", "# Pods restarting\n\n## Diagnosis\n")
    found = match_runbooks(settings, "KubePodCrashLooping", suggestions=0)
    assert rules(found) == [("kube-pod-crash-looping", "name")]
    assert "file name" in found[0].reason


def test_explicit_alerts_by_name_and_label_matchers(settings: Settings, workspace: Path) -> None:
    write(
        workspace,
        "eur.md",
        front(id="eur-balances", alerts=["check=balance_mismatch,currency=EUR"])
        + "# EUR balances\n",
    )
    write(workspace, "named.md", front(id="named", alerts=["PaymentsSlow"]) + "# Slow\n")
    write(workspace, "regex.md", front(id="regex", alerts=["check=~dup.*,env!=staging"]) + "# R\n")
    eur = match_runbooks(
        settings, "x", {"check": "balance_mismatch", "currency": "EUR"}, suggestions=0
    )
    assert ("eur-balances", "alerts") in rules(eur)
    usd = match_runbooks(
        settings, "x", {"check": "balance_mismatch", "currency": "USD"}, suggestions=0
    )
    assert "eur-balances" not in [m.runbook.id for m in usd]
    assert rules(match_runbooks(settings, "payments_slow", suggestions=0)) == [("named", "alerts")]
    assert ("regex", "alerts") in rules(
        match_runbooks(settings, "a", {"check": "duplicate_posting", "env": "prod"}, suggestions=0)
    )
    assert "regex" not in [
        m.runbook.id
        for m in match_runbooks(
            settings, "a", {"check": "duplicate_posting", "env": "staging"}, suggestions=0
        )
    ]


def test_matcher_parse_errors_are_lint_findings(settings: Settings, workspace: Path) -> None:
    with pytest.raises(ValueError):
        Matcher.parse("check=~(")
    write(
        workspace,
        "bad.md",
        front(id="bad", alerts=["check=~("]) + "# B\n## Diagnosis\n## Mitigation\n",
    )
    codes = [(f.runbook, f.code) for f in lint_runbooks(settings)]
    assert ("bad", "front_matter") in codes


def test_annotation_by_path_and_by_url_last_segment(settings: Settings, workspace: Path) -> None:
    write(workspace, "ops/Ledger-Lag.md", "# Ledger lag\n")
    write(workspace, "ops/other.md", front(id="webhook-retries", title="Webhook retries") + "x\n")
    by_path = match_runbooks(
        settings, "Whatever", annotations={"runbook": "runbooks/ops/Ledger-Lag.md"}, suggestions=0
    )
    assert rules(by_path) == [("Ledger-Lag", "annotation")]
    by_url = match_runbooks(
        settings,
        "Whatever",
        annotations={"runbook_url": "https://wiki.example.com/runbooks/ledger-lag?x=1#top"},
        suggestions=0,
    )
    assert rules(by_url) == [("Ledger-Lag", "annotation")]
    by_slug = match_runbooks(
        settings,
        "Whatever",
        annotations={"runbook_url": "https://example.com/rb/WEBHOOK-RETRIES/"},
        suggestions=0,
    )
    assert rules(by_slug) == [("webhook-retries", "annotation")]
    assert (
        match_runbooks(
            settings, "Whatever", annotations={"runbook_url": "https://x/nope"}, suggestions=0
        )
        == []
    )


def test_rule_order_and_one_entry_per_runbook(settings: Settings, workspace: Path) -> None:
    write(workspace, "first.md", front(id="first", alerts=["LedgerLag"]) + "# First\n")
    write(workspace, "LedgerLag.md", "# LedgerLag\n")
    write(workspace, "by-url.md", "# By url\n")
    found = match_runbooks(
        settings,
        "LedgerLag",
        annotations={"runbook_url": "http://x/by-url", "runbook": "first.md"},
        suggestions=0,
    )
    assert rules(found) == [("first", "alerts"), ("by-url", "annotation"), ("LedgerLag", "name")]


def test_full_text_suggestions_are_labelled_and_scored(
    settings: Settings, workspace: Path, services: Services
) -> None:
    write(
        workspace,
        "fx.md",
        front(id="fx-rates", title="FX rates stale")
        + "# FX rates stale\n\nThe exchange rate feed stopped; conversions use old rates.\n",
    )
    found = match_runbooks(
        settings,
        "ExchangeRateFeedStale",
        annotations={"summary": "exchange rate feed stopped"},
        summary="exchange rate feed stopped",
        suggester=services.runbook_suggester,
    )
    assert found and found[0].runbook.id == "fx-rates"
    assert found[0].rule == "suggestion" and found[0].suggestion
    assert found[0].score is not None and found[0].score > 0
    assert "suggestion" in found[0].to_dict()["reason"]


def test_suggestions_come_only_from_the_suggester_given(
    settings: Settings, workspace: Path
) -> None:
    write(workspace, "fx.md", front(id="fx-rates", title="FX rates") + "# FX rates\n")
    asked: list[tuple[list[str], int]] = []

    def suggester(terms: list[str], limit: int) -> list[tuple[str, float]]:
        asked.append((terms, limit))
        return [("no-such-runbook", 2.0), ("fx-rates", 1.5)]

    found = match_runbooks(settings, "ExchangeRateFeedStale", suggestions=2, suggester=suggester)
    assert [(m.runbook.id, m.rule, m.score) for m in found] == [("fx-rates", "suggestion", 1.5)]
    assert asked == [(["exchange", "feed", "rate", "stale"], 7)]
    assert match_runbooks(settings, "ExchangeRateFeedStale") == []

    def broken(terms: list[str], limit: int) -> list[tuple[str, float]]:
        raise OSError("index locked")

    assert match_runbooks(settings, "ExchangeRateFeedStale", suggester=broken) == []


def test_workspace_runbook_wins_over_shipped_with_same_id(
    settings: Settings, workspace: Path
) -> None:
    write(
        workspace,
        "mine.md",
        front(id="balance_mismatch", title="Our own balance runbook", alerts=["balance_mismatch"])
        + "# Ours\n",
    )
    rbs = load_runbooks(settings)
    rb = rbs.get("balance_mismatch")
    assert rb is not None and rb.source == "workspace" and rb.title == "Our own balance runbook"
    assert any(s.id == "balance_mismatch" and s.source == "shipped" for s in rbs.shadowed)


RECONCILER_CHECKS = (
    "balance_mismatch",
    "duplicate_posting",
    "currency_mismatch",
    "orphan_entry",
    "invalid_reversal",
    "clock_skew",
)


@pytest.mark.parametrize("check", RECONCILER_CHECKS)
def test_every_reconciler_check_links_to_its_shipped_runbook(
    settings: Settings, check: str
) -> None:
    by_name = match_runbooks(settings, check, suggestions=0)
    assert by_name and by_name[0].runbook.id == check and by_name[0].rule == "alerts"
    by_label = match_runbooks(settings, "LedgerReconcilerFinding", {"check": check}, suggestions=0)
    assert by_label and by_label[0].runbook.id == check
    body = by_name[0].runbook.body
    assert "incidentbook " in body  # diagnosis uses incidentbook's own commands


def test_shipped_runbooks_cover_ingest_and_own_failure_modes_and_lint_clean(
    settings: Settings,
) -> None:
    ids = {rb.id for rb in load_runbooks(settings).runbooks}
    assert {
        "receiver_down",
        "token_rejected",
        "alertmanager_retry_storm",
        "index_out_of_date",
        "database_locked",
        "migration_pending",
        *RECONCILER_CHECKS,
    } <= ids
    assert shipped_dir("runbooks").is_dir()
    assert lint_runbooks(settings) == []


def test_lint_findings(
    settings: Settings, workspace: Path, services: Services, ctx: Context
) -> None:
    write(
        workspace,
        "old.md",
        front(id="old", last_reviewed="2025-01-01")
        + "# Old\n## Diagnosis\nx\n## Mitigation\ny\n[see](missing.md) [ok](ok.md) "
        "[web](https://example.com/x)\n",
    )
    write(workspace, "ok.md", "# OK\n## Investigation\n## Remediation\n")
    write(workspace, "nosections.md", "# Nothing useful\n\nJust words.\n")
    write(workspace, "yaml.md", "---\nalerts: [unclosed\n---\n# Y\n## Diagnosis\n## Fix\n")
    alert = NativeAlert.from_dict(
        {
            "source": "test",
            "name": "MysteryAlert",
            "fingerprint": "fp-1",
            "status": "firing",
            "severity": "warning",
            "summary": "something odd",
            "labels": {},
            "annotations": {},
            "starts_at": "2026-10-17T01:00:00Z",
        }
    )
    services.alerts.ingest(ctx, [alert])
    found = {
        (f.runbook, f.code, f.message.split(" ")[0]) for f in lint_runbooks(settings, services.db)
    }
    assert ("old", "stale", "last_reviewed") in found
    assert ("old", "broken_link", "link") in found
    assert not any(r == "old" and c == "broken_link" and "ok.md" in m for r, c, m in found)
    assert ("nosections", "missing_section", "no") in found
    assert ("yaml", "front_matter", "front") in found
    assert (None, "uncovered_alert", "alert") in found
    assert not any(r == "ok" for r, _c, _m in found)


def test_parse_pairs() -> None:
    assert parse_pairs("a=1, b=x=y", "labels") == {"a": "1", "b": "x=y"}
    with pytest.raises(UsageError, match="--labels"):
        parse_pairs("novalue", "labels")


def test_cli_match_list_lint(cli: Cli, workspace: Path) -> None:
    write(workspace, "k8s/pod-crash.md", KUBE)
    out = cli.json("runbooks", "match", "KubePodCrashLooping", "--labels", "namespace=a,pod=b")
    assert out["matches"][0]["runbook"] == "pod-crash"
    assert out["matches"][0]["rule"] == "name"
    out = cli.json(
        "runbooks",
        "match",
        "x",
        "--labels",
        "check=duplicate_posting",
        "--annotations",
        "summary=webhook posted twice",
    )
    assert out["matches"][0]["runbook"] == "duplicate_posting"
    assert out["matches"][0]["reason"].startswith("front matter alerts")
    listed = cli.json("runbooks", "list")
    assert {"pod-crash", "balance_mismatch"} <= {r["id"] for r in listed}
    human = cli("runbooks", "match", "KubePodCrashLooping")
    assert human.exit_code == 0 and "pod-crash [name]" in human.output
    bad = cli("runbooks", "match", "x", "--labels", "oops")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "incidentbook: error: --labels: expected k=v pairs separated by commas, got 'oops'"
    ]
    write(workspace, "empty.md", "# Empty\n")
    lint = cli("runbooks", "lint", "--json")
    assert lint.exit_code == 1
    assert any(f["runbook"] == "empty" for f in json.loads(lint.stdout)["findings"])
