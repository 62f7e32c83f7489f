#!/usr/bin/env python3
"""Text generation: how well the flags find corrupted answers, and what re-labeling rounds give (by hand).

Generated pairs: a date written in one of several formats -> the same date in ISO form, e.g.
"7 October 2030", "October 7, 2030", "07/10/2030" (day first: DD/MM/YYYY), "07.10.2030",
"2030 Oct 7", "7 Oct 2030" -> "2030-10-07". A share of the answers is corrupted (seeded), one of
three kinds: a wrong field (day and month swapped, or when that is no different date, the year
off by 1-10), truncated (cut after 4-9 characters), or swapped with another row's answer.

The text-generation adapter's default seq2seq model (untrained byte-level BART) predicts every
pair out of fold (K folds) and in sample (the model fitted on all pairs); the product's own
`adapter.find_disagreements` flags answers under several chrF/BLEU thresholds. Then rounds: a
simulated annotator fixes the flagged answers that are truly corrupted and keeps the others, the
model is fitted again, and its exact match on a clean held-out set is measured after each round.
Prints Markdown tables.

    .venv/bin/python -m benchmarks.textgen_dates                         # 500 pairs, 15% corrupted, 2 rounds
    .venv/bin/python -m benchmarks.textgen_dates --pairs 200 --rounds 1  # a quick look

Scores: precision, recall, F1 of the flagged set; AUPRC and P@k of the chrF ranking (k = the true
number of corrupted answers); recall per corruption kind.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np
from tqdm import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from relabel.adapters.data.folds import fold_assignments, out_of_fold_outputs
from relabel.adapters.noise.probabilities import FlagOptions, suppress_confirmed
from relabel.adapters.tasks.text_generation import DEFAULT_CHRF_THRESHOLD, TextGenerationAdapter
from benchmarks.detection_quality import scores

LABEL_CONFIG = ('<View><Text name="text" value="$text"/>'
                '<TextArea name="answer" toName="text"/></View>')
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
FORMATS = {
    "7 October 2030": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "October 7, 2030": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "07/10/2030 (DD/MM/YYYY)": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "07.10.2030": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "2030 Oct 7": lambda d: f"{d.year} {MONTHS[d.month - 1][:3]} {d.day}",
    "7 Oct 2030": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
}
CORRUPTIONS = ("wrong field", "truncated", "swapped")


def date_pairs(n: int, seed: int, exclude: set[str] = frozenset()) -> list[tuple[str, str]]:
    """`n` (written date, ISO date) pairs, dates between 1950 and 2049, formats drawn uniformly, no input twice."""
    rng = np.random.default_rng(seed)
    first, last = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()
    formats = list(FORMATS.values())
    pairs: dict[str, str] = {}
    while len(pairs) < n:
        date = datetime.date.fromordinal(int(rng.integers(first, last + 1)))
        written = formats[rng.integers(len(formats))](date)
        if written not in exclude:
            pairs.setdefault(written, date.isoformat())
    return list(pairs.items())


def wrong_field(answer: str, rng: np.random.Generator) -> str:
    """Day and month swapped when that makes another date, else the year off by 1 to 10."""
    year, month, day = (int(part) for part in answer.split("-"))
    if day <= 12 and day != month:
        return f"{year:04d}-{day:02d}-{month:02d}"
    return f"{year + int(rng.choice([-1, 1])) * int(rng.integers(1, 11)):04d}-{month:02d}-{day:02d}"


def corrupt(answers: list[str], share: float, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """(answers with round(share * n) corrupted, mask of those, kind of each: "" or one of CORRUPTIONS)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(answers), round(share * len(answers)), replace=False)
    noisy, kinds = list(answers), [""] * len(answers)
    for index in chosen:
        kind = CORRUPTIONS[rng.integers(len(CORRUPTIONS))]
        if kind == "wrong field":
            noisy[index] = wrong_field(answers[index], rng)
        elif kind == "truncated":
            noisy[index] = answers[index][:int(rng.integers(4, 10))]
        else:
            others = [i for i in range(len(answers)) if answers[i] != answers[index]]
            noisy[index] = answers[int(rng.choice(others))]
        kinds[index] = kind
    return noisy, np.array([k != "" for k in kinds]), kinds


def bar_progress(bar: tqdm):
    def progress(stage: str, done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
    return progress


def fit_outputs(adapter: TextGenerationAdapter, sources: list[str], answers: list[str], test_sources: list[str],
                folds: int, seed: int, label: str, out_of_fold: bool = True) -> dict:
    """Out-of-fold outputs (K models; None unless `out_of_fold`), and the full model's in-sample and held-out
    outputs, with the seconds all that took."""
    started = time.perf_counter()
    oof = None
    if out_of_fold:
        with tqdm(desc=f"{label}: {folds}-fold", unit="fold", file=sys.stderr) as bar:
            oof = out_of_fold_outputs(adapter.new_model, sources, answers,
                                      fold_assignments(adapter.fold_strata(answers), folds, seed), bar_progress(bar))
    model = adapter.new_model().fit(sources, answers)
    return {"oof": oof, "in_sample": model.predict(sources), "test": model.predict(test_sources),
            "seconds": time.perf_counter() - started}


def detection_rows(adapter, noisy: list[str], truth: np.ndarray, kinds: list[str], outputs: dict,
                   thresholds: list[float], bleu: float, seed: int) -> list[tuple[str, dict]]:
    rules = [(f"chrF < {t:g}" + (" (default)" if t == DEFAULT_CHRF_THRESHOLD else ""),
              FlagOptions(quality_threshold=t)) for t in thresholds]
    rules += [("no shared token only (chrF < 0)", FlagOptions(quality_threshold=0.0)),
              (f"BLEU < {bleu:g} (no chrF rule)", FlagOptions(quality_threshold=0.0, bleu_threshold=bleu)),
              (f"budget = true number ({int(truth.sum())})", FlagOptions(budget=int(truth.sum())))]
    rows = []
    for source, label in (("oof", "OOF"), ("in_sample", "in-sample")):
        for name, options in rules:
            found = adapter.find_disagreements(list(range(len(noisy))), noisy, outputs[source], options)
            flagged = np.array([d.flagged for d in found])
            quality = np.array([d.label_quality for d in found])
            rows.append((f"{label}, {name}", {**scores(flagged, quality, truth), **recall_by_kind(flagged, kinds)}))
    default_flagged = rows[thresholds.index(DEFAULT_CHRF_THRESHOLD)][1]["flagged"] \
        if DEFAULT_CHRF_THRESHOLD in thresholds else int(truth.sum())
    # Not the corruption's generator (seeded alike): its first draws would pick the corrupted rows.
    rng = np.random.default_rng(seed + 1000)
    random_flags = np.zeros(len(noisy), dtype=bool)
    random_flags[rng.choice(len(noisy), default_flagged, replace=False)] = True
    rows.append((f"random, as many as OOF default ({default_flagged})",
                 {**scores(random_flags, rng.random(len(noisy)), truth), **recall_by_kind(random_flags, kinds)}))
    return rows


def recall_by_kind(flagged: np.ndarray, kinds: list[str]) -> dict:
    kinds = np.array(kinds)
    return {kind: float(flagged[kinds == kind].mean()) if (kinds == kind).any() else float("nan")
            for kind in CORRUPTIONS}


def exact_match(outputs: list[str], answers: list[str]) -> float:
    return float(np.mean([o == a for o, a in zip(outputs, answers)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--test", type=int, default=300, help="clean held-out pairs for exact match")
    parser.add_argument("--noise", type=float, default=0.15, help="share of answers corrupted")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="re-labeling rounds after the first detection")
    parser.add_argument("--thresholds", default="0.5,0.7,0.8,0.9", help="chrF thresholds (shares) to score")
    parser.add_argument("--bleu", type=float, default=0.5, help="BLEU threshold (share) to score")
    parser.add_argument("--round-threshold", type=float, default=None,
                        help="chrF threshold of the rounds' flags (default: the adapter's DEFAULT_CHRF_THRESHOLD)")
    parser.add_argument("--min-steps", type=int, default=None, help="model option (default: the adapter's)")
    parser.add_argument("--epochs", type=int, default=None, help="model option (default: the adapter's)")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    model_options = {k: v for k, v in (("min_steps", options.min_steps), ("epochs", options.epochs)) if v is not None}
    adapter = TextGenerationAdapter(LABEL_CONFIG, seed=options.seed, **model_options)
    pairs = date_pairs(options.pairs, options.seed)
    test = date_pairs(options.test, options.seed + 1, exclude={source for source, _ in pairs})
    sources, clean = [s for s, _ in pairs], [a for _, a in pairs]
    test_sources, test_answers = [s for s, _ in test], [a for _, a in test]
    noisy, truth, kinds = corrupt(clean, options.noise, options.seed)
    thresholds = [float(t) for t in options.thresholds.split(",")]

    outputs = fit_outputs(adapter, sources, noisy, test_sources, options.folds, options.seed, "round 0")
    detection = detection_rows(adapter, noisy, truth, kinds, outputs, thresholds, options.bleu, options.seed)

    # Rounds: flag on out-of-fold outputs (default rule, or --round-threshold); the annotator fixes what is
    # truly wrong and keeps the rest. A kept answer is remembered as confirmed at its label quality and
    # not shown again unless the quality falls by more than the confirmation margin (as sync_round does).
    current, rounds = list(noisy), []
    confirmed = np.full(len(current), np.nan)
    rule = FlagOptions(quality_threshold=options.round_threshold)
    for round_number in range(options.rounds + 1):
        wrong = np.array([c != a for c, a in zip(current, clean)])
        row = {"round": round_number, "wrong": int(wrong.sum()), "shown": "-", "fixed": "-", "precision": "-",
               "suppressed": "-", "oof exact": "-", "test exact": f"{exact_match(outputs['test'], test_answers):.3f}",
               "seconds": f"{outputs['seconds']:.0f}"}
        if round_number < options.rounds:
            found = adapter.find_disagreements(list(range(len(current))), current, outputs["oof"], rule)
            quality = np.array([d.label_quality for d in found])
            flagged, suppressed = suppress_confirmed(np.array([d.flagged for d in found]), quality, confirmed,
                                                     rule.confirmation_margin)
            row.update(shown=int(flagged.sum()), fixed=int((flagged & wrong).sum()), suppressed=int(suppressed.sum()),
                       precision=f"{(flagged & wrong).sum() / max(1, flagged.sum()):.3f}",
                       **{"oof exact": f"{exact_match(outputs['oof'], clean):.3f}"})
            confirmed[flagged & ~wrong] = quality[flagged & ~wrong]
            current = [clean[i] if flagged[i] and wrong[i] else current[i] for i in range(len(current))]
            # the last round only measures the model: no flags, so no out-of-fold outputs
            outputs = fit_outputs(adapter, sources, current, test_sources, options.folds, options.seed,
                                  f"round {round_number + 1}", out_of_fold=round_number + 1 < options.rounds)
        rounds.append(row)

    started = time.perf_counter()
    ceiling = exact_match(adapter.new_model().fit(sources, clean).predict(test_sources), test_answers)
    ceiling_seconds = time.perf_counter() - started

    print(f"\n{options.pairs} pairs ({int(truth.sum())} corrupted: "
          + ", ".join(f"{kinds.count(k)} {k}" for k in CORRUPTIONS) + f"), {options.test} clean held-out pairs, "
          f"{options.folds} folds, seed {options.seed}, model settings {adapter.settings()}, rounds flag at chrF < "
          f"{DEFAULT_CHRF_THRESHOLD if options.round_threshold is None else options.round_threshold:g}\n")
    print("| predictions, rule | flagged | precision | recall | F1 | AUPRC | P@k | "
          + " | ".join(f"recall: {k}" for k in CORRUPTIONS) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(CORRUPTIONS))
    for name, result in detection:
        print(f"| {name} | {result['flagged']} | {result['precision']:.3f} | {result['recall']:.3f} "
              f"| {result['f1']:.3f} | {result['auprc']:.3f} | {result['p_at_k']:.3f} | "
              + " | ".join(f"{result[k]:.2f}" for k in CORRUPTIONS) + " |")
    columns = ["round", "wrong", "shown", "fixed", "precision", "suppressed", "oof exact", "test exact", "seconds"]
    print("\n| round | wrong answers | shown | fixed (truly wrong) | precision | not shown again (confirmed) "
          "| OOF exact match (vs true answers) | test exact match | seconds (folds + full model) |")
    print("|" + "---:|" * len(columns))
    for row in rounds:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    print(f"\nceiling: the model fitted on the clean answers, test exact match {ceiling:.3f} ({ceiling_seconds:.0f} s)")


if __name__ == "__main__":
    main()
