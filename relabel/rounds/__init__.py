"""The round driver as a library: `run_round(RoundOptions(project=12, ...))` runs one round.

- `options`: RoundOptions, what a round is asked to do;
- `driver`: run_round, the order of the steps;
- `jobs`: the backend's training jobs, started through Label Studio and waited for;
- `scoring`: flags and report from stored predictions and earlier rounds (no writes);
- `policies`: what a task type's round does with its flags (re-label, or drop rows);
- `publishing`: tags, tabs and report files; `tabs`: the Data Manager side of it;
- `history`, `report`, `markdown`, `dropped_rows`: earlier rounds, the report and its parts;
- `cli`: the command line (scripts/sync_round.py, relabel-sync-round).
"""
from relabel.rounds.driver import run_round
from relabel.rounds.errors import RoundError
from relabel.rounds.options import RoundOptions
from relabel.rounds.scoring import ScoredRound, score_round

__all__ = ["RoundError", "RoundOptions", "ScoredRound", "run_round", "score_round"]
