"""The reconciler: every check of DESIGN §4 over one ledger snapshot, in resumable batches.

A run goes through phases; every batch commits its findings, its checkpoint row and the run's
cursor in ONE state-database transaction, so ``kill -9`` at any moment loses at most the
batches in flight and the next invocation (``--resume`` or a plain run) finishes the run:

1. ``scan``     — the run's planned tasks (``tasks``: account ranges, external-ref ranges,
   entry-id ranges, reversal ranges; or the incremental scope), in any order, on
   ``--jobs`` worker processes that share the run's snapshot (``workers``), or in this
   process. A task is done when its checkpoint is committed; a resumed run runs the rest;
2. ``publish``  — findings become alerts (source ``reconciler``, name = check, fingerprint =
   the contract's) through ``AlertService.ingest_many_in``, a page of findings at a time,
   each page committed with the cursor past it (so no finding is offered twice, and no
   receipt keys are needed);
3. ``resolve``  — firing reconciler alerts whose finding is gone are resolved, the same way;
   an incremental run resolves only the account checks of the accounts it looked at; then,
   once per run, the unresolved incidents opened from the reconciler's groups are retitled
   where their group's impact changed (``AlertService.retitle_group_incidents``: one
   ``incident.retitled`` event per changed title, none when nothing changed);
4. ``complete`` — the summary is stored on the run and one ``reconcile.completed`` event
   records it; then the ledger's complete runs beyond ``[reconciler] keep_runs`` let go of
   their findings and checkpoints (``prune_runs``), keeping their summaries.

Nothing reaches the alerts before the scan is over, so a ledger error found mid-scan (say a
non-integer amount) aborts the run and removes its staging rows: nothing written.

The modules, one job each:

- ``settings``   — the ``[reconciler]`` settings of incidentbook.toml and their validation;
- ``model``      — value types (options, run, summary, candidates, health) and the alert
  summary text a finding's alert carries;
- ``runs``       — the run store: runs, checkpoints, findings, scope, resolutions (SQL);
- ``runner``     — one run through its phases: plan, scan, publish, resolve, complete;
- ``candidates`` — firing reconciler alerts as incident candidates, alert groups' impact
  (``group_impacts``, given to the alerts' grouping) and affected accounts;
- ``accounts``   — an incident's affected accounts with the duplicate/balance cross-check;
- ``impact``     — the impact of an incident's reconciler groups, for ``incident show``;
- ``health``     — what the Health screen shows of the reconciler, as data;
- ``verify``     — ``incidentbook verify``'s check of checkpoints against findings;
- ``service``    — ``ReconcileService``, the use cases, wired in ``incidentbook.services``.
"""
