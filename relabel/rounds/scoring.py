"""Scoring a round: stored predictions and earlier rounds in, flags and report out; nothing is written."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from relabel.adapters.base import Disagreement, RoundPolicy, TaskAdapter
from relabel.adapters.noise.flags import FlagOptions
from relabel.adapters.noise.knn import combine_probabilities
from relabel.rounds.annotators import annotator_summary
from relabel.rounds.history import apply_confirmation_memory, confirmed_label_quality
from relabel.rounds.human_eval import human_evaluation
from relabel.rounds.policies import RelabelRound
from relabel.rounds.ordering import TabOptions, first_labels, plan_tab
from relabel.rounds.report import build_report
from relabel.rounds.several_annotators import several_annotators


@dataclass
class ScoredRound:
    """A round's flags (`flags`: in tab order; `groups`: task -> its group in the tab), every labeled task's
    disagreement after the memory of confirmed labels, the tasks that memory kept out (`suppressed`), and
    the report (report.json's form, without what publishing adds: tab URLs)."""

    round_number: int
    model_version: str
    disagreements: list[Disagreement]
    flags: list[Disagreement]
    suppressed: list[int]
    report: dict
    groups: dict[int, str] = field(default_factory=dict)


def score_round(adapter: TaskAdapter, stored: dict, project: dict, round_number: int, earlier_reports: list[dict],
                flag_options: FlagOptions, policy: RelabelRound, dry_run: bool = False,
                people: dict[int, str] | None = None, predictions_of: Callable[..., dict] | None = None,
                tab: TabOptions = TabOptions(), texts: dict[int, str] | None = None) -> ScoredRound:
    """Flag the labels of a model's stored out-of-fold outputs (GET /projects/N/predictions) under
    `flag_options`; labels humans already kept when shown (`earlier_reports`, oldest first) are not
    flagged again without clearly stronger doubt. `people` names the annotators (user id -> e-mail);
    `predictions_of(version, fields)` reads an earlier model's stored outputs (human evaluation, the labels
    fixes are carried from). `tab` orders the tab and carries earlier fixes to similar tasks
    (relabel.rounds.ordering; `texts`, task -> text, for its word patterns)."""
    items = stored["items"]
    targets = [item["target"] for item in items]
    outputs = [adapter.output_from_json(item["output"]) for item in items]
    # What the report records is what ran: an unset ranking becomes the adapter's own.
    options = replace(flag_options, quality_method=flag_options.quality_method or adapter.default_quality_method,
                      neighbour_weight=adapter.default_neighbour_weight if flag_options.neighbour_weight is None
                      else flag_options.neighbour_weight)
    if options.neighbour_weight and items and all(item.get("neighbour_vote") for item in items):
        outputs = list(combine_probabilities(np.vstack(outputs), np.array([item["neighbour_vote"] for item in items]),
                                             options.neighbour_weight))
    in_sample = [adapter.output_from_json(item["in_sample_output"]) for item in items] \
        if items and all("in_sample_output" in item for item in items) else None
    options = replace(options, in_sample_weight=resolved_in_sample_weight(adapter, options, len(items), in_sample))
    ranked, flag_with = mix_in_sample(adapter, targets, outputs, in_sample, options)
    disagreements = adapter.find_disagreements([item["task"] for item in items], targets, ranked, flag_with)
    several = None
    if adapter.consensus_of_votes and items:
        disagreements, several = several_annotators(items, disagreements, adapter.classes,
                                                    np.vstack([np.asarray(o, dtype=float) for o in ranked]), people)
    label_keys = {item["task"]: adapter.target_key(item["target"]) for item in items}
    current_labels = {item["task"]: {"target": label_keys[item["task"]], "annotation": item["annotation"]}
                      for item in items}
    history = policy.history(earlier_reports, current_labels)
    disagreements, suppressed = apply_confirmation_memory(
        disagreements, confirmed_label_quality(earlier_reports, current_labels, options.quality_method),
        options.confirmation_margin)
    evaluation_tasks = {item["task"] for item in items if item.get("split") == "evaluation"}
    if adapter.round_policy is RoundPolicy.DROP_ROWS:  # nobody re-labels dropped rows: most suspicious first
        tab = replace(tab, order="rank", propagate=False)
    earliest = first_labels(earlier_reports, adapter.target_key, predictions_of) \
        if tab.propagate and earlier_reports and predictions_of else None
    disagreements, order, groups = plan_tab(disagreements, items, label_keys, earlier_reports, evaluation_tasks, tab,
                                            adapter.labels_are_classes, texts, earliest)
    report = build_report(round_number=round_number, project=project, model_version=stored["model_version"],
                          stored=stored, disagreements=disagreements, order=order, groups=groups,
                          annotations={item["task"]: item["annotation"] for item in items}, history=history,
                          tab_url=None, dry_run=dry_run, detection=asdict(options), suppressed=suppressed,
                          estimated_noise_rate=adapter.estimate_noise_rate(targets, outputs), label_keys=label_keys,
                          labels_are_classes=adapter.labels_are_classes, error_kinds=adapter.error_kinds,
                          evaluation_tasks=evaluation_tasks,
                          annotators={item["task"]: item.get("annotator") for item in items})
    report.update(tab_title=policy.tab_title.format(round_number), evaluation=stored.get("evaluation"),
                  annotators=annotator_summary(items, earlier_reports, people or {}, adapter.labels_are_classes,
                                               label_keys),
                  human_evaluation=human_evaluation(earlier_reports, items, adapter, predictions_of)
                  if predictions_of else [])
    if several is not None:
        report["several_annotators"] = several
    return ScoredRound(round_number, stored["model_version"], disagreements, order, suppressed, report, groups)


def resolved_in_sample_weight(adapter: TaskAdapter, options: FlagOptions, n_labeled: int,
                              in_sample: list | None) -> float:
    """The share of in-sample outputs this round mixes in: the option, else the task type's default for the
    budget rule (benchmarked with it; the other rules read the out-of-fold outputs as cleanlab and the paper do);
    0 where the stored model kept no in-sample outputs (a model trained before they were kept, or a source
    without folds)."""
    supported = adapter.in_sample_weight_for(n_labeled)
    if options.in_sample_weight and supported is None:
        raise ValueError(f"in_sample_weight needs class probabilities; {adapter.name} labels have none to mix")
    default = (supported or 0.0) if options.flag_rule == "budget" else 0.0
    weight = options.in_sample_weight if options.in_sample_weight is not None else default
    return weight if in_sample is not None else 0.0


def mix_in_sample(adapter: TaskAdapter, targets: list, outputs: list, in_sample: list | None,
                  options: FlagOptions) -> tuple[list, FlagOptions]:
    """(the outputs that rank the labels, the options that flag them): the out-of-fold `outputs` with
    `options.in_sample_weight` of the full-data model's own, in-sample outputs mixed in.

    The in-sample outputs believe the labels the model learned: counted on the mix, the default budget would
    flag far too few (662 instead of 1,105 at TREC's uniform 20%, benchmarks/RESULTS.md 31). So the default
    budget counts the wrong labels on the out-of-fold outputs alone and flags that many of the mix's lowest."""
    weight = options.in_sample_weight
    if not weight or in_sample is None or not len(outputs):
        return outputs, options
    if options.flag_rule == "budget" and options.budget is None and options.quality_threshold is None:
        rate = adapter.estimate_noise_rate(targets, outputs)
        if rate is not None:
            options = replace(options, budget=round(rate * len(targets)))
    mixed = combine_probabilities(np.vstack([np.asarray(o, dtype=float) for o in outputs]),
                                  np.vstack([np.asarray(o, dtype=float) for o in in_sample]), weight)
    return list(mixed), options
