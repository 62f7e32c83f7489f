"""What a round does with its flags, per round policy (`TaskAdapter.round_policy`).

RELABEL (every task type but clicks): flagged tasks go into a "Re-label round N" tab for people to
re-label, and the next round reports what they did with them. DROP_ROWS (clicks, as in the paper):
nobody re-labels a click log; the flagged rows leave the training set of later rounds, the round
writes the cleaned training set, and a backend job measures a model trained with and without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relabel.adapters import RoundPolicy
from relabel.clients.backend import BackendClient
from relabel.rounds.dropped_rows import dropped_rows_section
from relabel.rounds.history import round_history
from relabel.rounds.jobs import run_backend_job
from relabel.rounds.options import RoundOptions
from relabel.rounds.tabs import DROPPED_TAB_TITLE, TAB_TITLE


@dataclass
class ScoredRoundView:
    """What a policy's `finish` reads of a scored round."""

    project_id: int
    model_version: str
    items: list[dict]
    flagged_ids: set[int]
    label_column: str | None
    tasks: list[dict]
    out_dir: Path


class RelabelRound:
    """Flagged tasks go back to people."""

    tab_title = TAB_TITLE

    def project_settings(self, round_number: int) -> dict:
        """Settings the backend trains this round's model with."""
        return {"drop_flagged_before_round": None}

    def history(self, earlier_reports: list[dict], current_labels: dict) -> list[dict]:
        """What humans did with each earlier round's flags."""
        return round_history(earlier_reports, current_labels)

    #: whether the round reads the tasks' annotations too (to export them); tagging needs only task data,
    #: and Label Studio reads a project of 10,000 tasks faster without their annotations and predictions
    reads_task_labels = False

    def reads_tasks(self, dry_run: bool) -> bool:
        """Whether the round reads the project's tasks (to tag them, or to export them)."""
        return not dry_run

    def finish(self, backend: BackendClient, view: ScoredRoundView, options: RoundOptions) -> dict:
        """Report fields this policy adds once the round is scored (before it is published)."""
        return {"dropped_rows": None}


class DropRowsRound(RelabelRound):
    """Flagged rows leave the training set; nobody re-labels them."""

    tab_title = DROPPED_TAB_TITLE

    def project_settings(self, round_number: int) -> dict:
        # later rounds train without the rows earlier rounds dropped; a re-run keeps its own
        return {"drop_flagged_before_round": round_number}

    def history(self, earlier_reports: list[dict], current_labels: dict) -> list[dict]:
        return []  # dropped rows are not re-labeled: there is nothing humans did with them

    reads_task_labels = True  # the cleaned export holds the kept rows' annotations

    def reads_tasks(self, dry_run: bool) -> bool:
        return True  # the cleaned export, a dry run's too

    def finish(self, backend: BackendClient, view: ScoredRoundView, options: RoundOptions) -> dict:
        job = run_backend_job(backend, view.project_id, options.timeout, options.poll_interval, options.quiet,
                              write_predictions=False,
                              compare_dropped={"model_version": view.model_version,
                                               "dropped_tasks": sorted(view.flagged_ids)})
        section = dropped_rows_section(view.tasks, view.items, view.flagged_ids, view.out_dir, view.label_column,
                                       job["result"])
        return {"dropped_rows": section}


POLICIES = {RoundPolicy.RELABEL: RelabelRound(), RoundPolicy.DROP_ROWS: DropRowsRound()}


def policy_for(round_policy: RoundPolicy) -> RelabelRound:
    return POLICIES[round_policy]
