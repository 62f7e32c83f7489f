"""Run one Re-Label round on a Label Studio project.

    LABEL_STUDIO_URL=http://localhost:8080 LABEL_STUDIO_API_KEY=... \\
        python scripts/sync_round.py --project 12 --backend-url http://localhost:9090

Each round: connect the Re-Label backend to the project (once), train through Label Studio (the
backend writes every labeled task's out-of-fold prediction as a pre-annotation with a new
model_version), find the tasks whose human label is most likely wrong (adapters/noise/; a label
humans already confirmed in an earlier round comes back only on clearly stronger doubt), put them into a
"Re-label round N" Data Manager tab (most suspicious first) and write rounds/round-N/report.{json,md}.
With --per-class, also one tab per class ("Re-label round N — PER"): the flagged tasks whose
disagreement involves that class, for teams where each labeler works on one class.

Text generation: flagged tasks also get the old and the model's text as `relabel_candidates`, for a
re-label config where annotators choose between them or write a new text (README). Clicks (CTR):
flagged rows are dropped, not re-labeled: the round makes a "Dropped clicks round N" tab, writes the
cleaned training set (round-N/cleaned.{json,csv}) and reports dev AUC / log-loss with and without the
dropped rows; later rounds train without them.

Re-running a round replaces its tab and adds no duplicate predictions. --dry-run trains and reports
without writing anything to Label Studio.
"""
from __future__ import annotations

import argparse
import os
import sys

from relabel.adapters.data.folds import PREDICTION_SOURCES
from relabel.adapters.noise.flags import CONFIDENT_LEARNING_FILTERS, FLAG_RULES, QUALITY_METHODS, FlagOptions
from relabel.clients.backend import BackendError
from relabel.clients.label_studio import LabelStudioError
from relabel.rounds.driver import run_round
from relabel.rounds.errors import RoundError
from relabel.rounds.markdown import report_markdown
from relabel.rounds.options import RoundOptions
from relabel.rounds.ordering import ORDERS, TabOptions


def parse_args(argv: list[str] | None = None) -> RoundOptions:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=int, required=True, help="Label Studio project id")
    parser.add_argument("--round", type=int, default=None,
                        help="round number to (re-)run; default: one past the last completed round")
    parser.add_argument("--label-studio-url", default=env("LABEL_STUDIO_URL", "http://127.0.0.1:8080"),
                        help="Label Studio URL (env LABEL_STUDIO_URL); the API key is read from LABEL_STUDIO_API_KEY")
    parser.add_argument("--backend-url", default=env("RELABEL_BACKEND_URL", "http://127.0.0.1:9090"),
                        help="Re-Label backend URL as this script reaches it (env RELABEL_BACKEND_URL)")
    parser.add_argument("--backend-url-for-label-studio", default=env("RELABEL_BACKEND_URL_FOR_LABEL_STUDIO"),
                        help="the backend URL as Label Studio reaches it, if different (e.g. http://backend:9090 "
                             "inside docker-compose; env RELABEL_BACKEND_URL_FOR_LABEL_STUDIO)")
    parser.add_argument("--folds", type=int, default=None,
                        help="K of the out-of-fold predictions (default: the backend's RELABEL_FOLDS, else 5; object detection 3)")
    parser.add_argument("--prediction-source", choices=PREDICTION_SOURCES, default=None,
                        help="out_of_fold, in_sample (the paper's original rule) or blended (the two averaged); "
                             "default: the backend's RELABEL_PREDICTION_SOURCE, else the task type's "
                             "(out_of_fold; NER blended)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="K-fold splits (seeds) whose predictions are averaged (default: RELABEL_REPEATS, 1)")
    defaults = FlagOptions()
    detection = parser.add_argument_group("flags (which labels go back to humans; see adapters/noise/flags.py)")
    detection.add_argument("--flag-rule", choices=FLAG_RULES, default=defaults.flag_rule,
                           help=f"disagreement: model's class != label; confident_learning: cleanlab's "
                                f"find_label_issues (higher precision); budget: the --budget lowest label-quality "
                                f"scores (default {defaults.flag_rule})")
    detection.add_argument("--ranking", choices=QUALITY_METHODS, default=None,
                           help="label-quality score that orders the tab (default: the task type's best, "
                                "noise_adjusted_margin for classification, confidence_weighted_entropy for NER)")
    detection.add_argument("--cleanlab-filter", choices=CONFIDENT_LEARNING_FILTERS,
                           default=defaults.confident_learning_filter,
                           help=f"filter_by of cleanlab's find_label_issues for --flag-rule confident_learning "
                                f"(default {defaults.confident_learning_filter})")
    detection.add_argument("--budget", type=int, default=None,
                           help="tasks to flag with --flag-rule budget (default: the estimated number of wrong labels)")
    detection.add_argument("--quality-threshold", type=float, default=None,
                           help="with --flag-rule budget: flag every task whose label-quality score is below this "
                                "(0-1) instead of a number of tasks; text generation: the chrF / 100 threshold "
                                "(default 0.9)")
    detection.add_argument("--global-budget", action="store_true",
                           help="spend the budget on the lowest scores overall instead of sharing it among classes")
    detection.add_argument("--confirmation-margin", type=float, default=defaults.confirmation_margin,
                           help="a label humans confirmed is shown again only if its quality score fell by more "
                                f"than this since (default {defaults.confirmation_margin}; 1: never, 0: whenever it fell)")
    detection.add_argument("--bleu-threshold", type=float, default=None,
                           help="text generation: also flag answers whose sentence BLEU / 100 against the model's "
                                "output is below this (0-1); --quality-threshold sets the chrF / 100 threshold")
    detection.add_argument("--drop-threshold", type=float, default=None,
                           help="clicks: drop the rows whose |predicted click probability - label| exceeds this (0-1)")
    detection.add_argument("--drop-quantile", type=float, default=defaults.drop_quantile,
                           help=f"clicks, without --drop-threshold: drop the rows whose error is above this quantile "
                                f"of the errors (default {defaults.drop_quantile})")
    detection.add_argument("--segment-field", default=None,
                           help="clicks: take the --drop-quantile within each value of this data field (e.g. a "
                                "genre or country) instead of over all rows")
    detection.add_argument("--neighbour-weight", type=float, default=defaults.neighbour_weight,
                           help="classification: the share of the neighbour vote (the labels of each task's 10 "
                                "nearest labeled tasks) mixed into the model's out-of-fold probabilities before "
                                "flagging (0-1; default: the task type's, 0: the model alone)")
    detection.add_argument("--in-sample-weight", type=float, default=defaults.in_sample_weight,
                           help="classification: the share of the trained model's own (in-sample) probabilities "
                                "mixed into the out-of-fold ones to rank the labels; the default budget still counts "
                                "on the out-of-fold ones (0-1; default: the task type's, 0: out of fold alone)")
    parser.add_argument("--per-class", action="store_true",
                        help="also one tab per class, \"Re-label round N — <class>\", for labelers who work one class "
                             "at a time")
    parser.add_argument("--order", choices=ORDERS, default=TabOptions.order,
                        help="the tab's order after the evaluation tasks and the tasks like earlier fixes: rank (most "
                             "suspicious first), confusion (one group per human -> model confusion, the largest "
                             "first; the default), similarity (similar tasks one after another)")
    parser.add_argument("--no-propagate", action="store_true",
                        help="do not carry earlier rounds' fixes to the unflagged tasks like them")
    parser.add_argument("--propagate-patterns", action="store_true",
                        help="text tasks: also carry fixes to tasks sharing a word pattern with them (common to the "
                             "fixed tasks, rare elsewhere)")
    parser.add_argument("--human-eval", type=int, default=0, metavar="N",
                        help="draw N tasks nobody labeled into a \"Human evaluation round R\" tab; later rounds "
                             "report the model's agreement with people's labels of them")
    parser.add_argument("--rounds-dir", default="rounds",
                        help="where round-N/report.{json,md,html} and chart.png are exported (default: rounds); the "
                             "history itself stays with the project in the backend")
    parser.add_argument("--dry-run", action="store_true", help="train and report, write nothing to Label Studio")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for training")
    parser.add_argument("--start-timeout", type=float, default=60,
                        help="seconds to wait for Label Studio to start the training job")
    parser.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        flags = FlagOptions(
            flag_rule=args.flag_rule, quality_method=args.ranking, confident_learning_filter=args.cleanlab_filter,
            budget=args.budget, quality_threshold=args.quality_threshold, per_class=not args.global_budget,
            confirmation_margin=args.confirmation_margin, bleu_threshold=args.bleu_threshold,
            drop_threshold=args.drop_threshold, drop_quantile=args.drop_quantile, segment_field=args.segment_field,
            neighbour_weight=args.neighbour_weight, in_sample_weight=args.in_sample_weight)
    except ValueError as error:
        parser.error(str(error))
    basic_auth_user = env("BASIC_AUTH_USER", "")
    return RoundOptions(
        project=args.project, label_studio_url=args.label_studio_url, api_key=env("LABEL_STUDIO_API_KEY", ""),
        backend_url=args.backend_url, backend_url_for_label_studio=args.backend_url_for_label_studio,
        basic_auth=(basic_auth_user, env("BASIC_AUTH_PASS", "")) if basic_auth_user else None,
        round=args.round, folds=args.folds, repeats=args.repeats, prediction_source=args.prediction_source,
        flags=flags, per_class=args.per_class, human_eval=max(0, args.human_eval),
        tab=TabOptions(order=args.order, propagate=not args.no_propagate, patterns=args.propagate_patterns),
        media_hosts=tuple(h.strip() for h in env("RELABEL_MEDIA_HOSTS", "").split(",") if h.strip()),
        rounds_dir=args.rounds_dir, dry_run=args.dry_run,
        timeout=args.timeout, start_timeout=args.start_timeout, poll_interval=args.poll_interval, quiet=args.quiet)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        report = run_round(options)
    except (RoundError, BackendError, LabelStudioError) as error:
        detail = getattr(error, "detail", "")
        print(f"sync_round: error: {error}" + (f" ({detail})" if detail else ""), file=sys.stderr)
        return 1
    print(report_markdown(report))
    print(f"Report: {report['report_dir']}/report.md (and report.html, with the chart)")
    if report["tab_url"]:
        print(f"{report['tab_title']} tab: {report['tab_url']}")
    for class_name, url in report.get("class_tabs", {}).items():
        print(f"Re-label round {report['round']} — {class_name} tab: {url}")
    return 0
