#!/usr/bin/env python3
"""NER: how well the flags find corrupted sentences in CoNLL-2003, and what re-labeling rounds give (by hand).

A subset of CoNLL-2003 English train gets span noise (benchmarks/ner_data.py: an entity dropped,
retyped, shifted by one word, or a spurious span added) on a share of its entities. The NER
adapter's fine-tuned MiniLM token classifier predicts every sentence out of fold (K folds) and in
sample; each rule flags sentences through the product's own `adapter.find_disagreements`. Then
rounds: a simulated annotator fixes each flagged sentence (right with probability
--annotator-accuracy, else leaves it; a sentence kept is remembered as confirmed, as sync_round does),
the model is retrained, and entity F1 on the dev set is
measured after each round. Prints Markdown tables.

    .venv/bin/python -m benchmarks.ner_detection                       # 800 sentences, 10% and 20%, 2 rounds
    .venv/bin/python -m benchmarks.ner_detection --sentences 300 --noise 0.2 --rounds 1   # a quick look

Sentence-level scores: precision, recall, F1 of the flagged set; AUPRC of the label-quality ranking;
precision@k with k the true number of corrupted sentences (both follow the row's ranking). In-sample
rows use the model fitted on all sentences (the paper's set-up).
"""
from __future__ import annotations

import argparse
import pickle
import random
import time
from pathlib import Path

import numpy as np

from relabel.adapters.data.folds import in_sample_outputs, repeated_out_of_fold_outputs
from relabel.adapters.tasks.ner import NerAdapter
from relabel.adapters.noise.probabilities import FlagOptions, suppress_confirmed
from benchmarks.detection_quality import scores
from benchmarks.ner_data import CONLL_CLASSES, DEFAULT_CONLL, Sentence, entity_f1, inject_span_noise, read_conll

LABEL_CONFIG = ('<View><Labels name="label" toName="text">' + "".join(f'<Label value="{c}"/>' for c in CONLL_CLASSES)
                + '</Labels><Text name="text" value="$text"/></View>')
RULES = {  # name -> (prediction source, options); the first is the product's default (and sizes "random")
    # the full model is trained anyway: its in-sample outputs averaged with the out-of-fold ones, per word
    "ours: OOF and in-sample averaged, worst-word budget (default)": ("blend", FlagOptions()),
    "OOF and in-sample averaged, worst-word budget, ranked by noise_adjusted_margin": (
        "blend", FlagOptions(quality_method="noise_adjusted_margin")),
    "OOF and in-sample averaged, spans differ": ("blend", FlagOptions(flag_rule="disagreement")),
    "OOF, worst-word budget (the default until 2026-12-02)": ("out_of_fold", FlagOptions()),
    "OOF, budget, ranked by self_confidence": ("out_of_fold", FlagOptions(quality_method="self_confidence")),
    "OOF, budget, ranked by normalized_margin": ("out_of_fold", FlagOptions(quality_method="normalized_margin")),
    "OOF, budget, ranked by noise_adjusted_margin": ("out_of_fold",
                                                     FlagOptions(quality_method="noise_adjusted_margin")),
    "OOF, budget, k from cleanlab filter confident_learning": (
        "out_of_fold", FlagOptions(confident_learning_filter="confident_learning")),
    "OOF, spans differ": ("out_of_fold", FlagOptions(flag_rule="disagreement")),
    "OOF, cleanlab token issues": ("out_of_fold", FlagOptions(flag_rule="confident_learning")),
    "paper: in-sample, spans differ": ("in_sample", FlagOptions(flag_rule="disagreement")),
    "in-sample, worst-word budget": ("in_sample", FlagOptions()),
}


def texts_and_targets(sentences: list[Sentence]) -> tuple[list[str], list[list]]:
    pairs = [s.to_text() for s in sentences]
    return [text for text, _ in pairs], [[list(span) for span in spans] for _, spans in pairs]


def detect(adapter: NerAdapter, targets: list, outputs: list, options: FlagOptions):
    found = adapter.find_disagreements(list(range(len(targets))), targets, outputs, options)
    return np.array([d.flagged for d in found]), np.array([d.label_quality for d in found])


def scored_rules(adapter: NerAdapter, targets: list, outputs: dict, truth: np.ndarray, seed: int):
    """(name, scores, label quality) of every rule in RULES on `outputs[source]`, then of random flags as many
    as the first rule that flags any (the product's default) with a random ranking."""
    results = []
    for name, (source, options) in RULES.items():
        flagged, quality = detect(adapter, targets, outputs[source], options)
        results.append((name, scores(flagged, quality, truth), quality))
    default_flagged = next((row["flagged"] for _, row, _ in results if row["flagged"]), 0)
    rng = np.random.default_rng(seed)
    random_flags = np.zeros(len(truth), dtype=bool)
    random_flags[rng.choice(len(truth), default_flagged, replace=False)] = True
    random_quality = rng.random(len(truth))
    results.append((f"random ({default_flagged})", scores(random_flags, random_quality, truth), random_quality))
    return results


def out_of_fold(adapter: NerAdapter, features, targets, folds: int, seed: int) -> list:
    return repeated_out_of_fold_outputs(adapter.new_model, features, targets, folds, 1, adapter.average_outputs,
                                        seed, strata=adapter.fold_strata(targets))


def dev_f1(adapter: NerAdapter, model, dev_features, dev_targets) -> float:
    predicted = [[list(s) for s in adapter.predicted_spans(o)] for o in model.predict(dev_features)]
    return entity_f1(dev_targets, predicted)


def outputs_of_both_sources(adapter: NerAdapter, features, targets, folds: int, seed: int,
                            cache: Path | None = None, key: str = "") -> tuple[dict, float, float, object]:
    """({"out_of_fold", "in_sample", "blend"} outputs, seconds of the fold fits, seconds of the full fit, the full
    model). With `cache`, the first two are read from `cache`/`key`.pickle where a run with the same data and
    settings saved them (no fits, no model: None), and saved there otherwise."""
    path = cache / f"{key}.pickle" if cache is not None else None
    oof_seconds = in_sample_seconds = 0.0
    full_model = None
    if path is not None and path.exists():
        with open(path, "rb") as file:
            outputs = pickle.load(file)  # noqa: S301 -- a file this benchmark wrote
    else:
        started = time.perf_counter()
        outputs = {"out_of_fold": out_of_fold(adapter, features, targets, folds, seed)}
        oof_seconds = time.perf_counter() - started
        started = time.perf_counter()
        full_model = adapter.new_model().fit(features, targets)
        outputs["in_sample"] = in_sample_outputs(full_model, features)
        in_sample_seconds = time.perf_counter() - started
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as file:
                pickle.dump(outputs, file)
    outputs["blend"] = [adapter.blend_outputs(a, b) for a, b in zip(outputs["out_of_fold"], outputs["in_sample"])]
    return outputs, oof_seconds, in_sample_seconds, full_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_CONLL)
    parser.add_argument("--sentences", type=int, default=800,
                        help="train sentences used (the first N; 800 keep the whole run under 20 min on 2 cores)")
    parser.add_argument("--dev-sentences", type=int, default=1000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2], help="shares of entities corrupted")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="re-labeling rounds, run at the last noise level")
    parser.add_argument("--annotator-accuracy", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs-cache", type=Path, default=None,
                        help="folder keeping each noise level's out-of-fold and in-sample outputs: a run that finds "
                             "them there scores the rules again without fitting (rounds still fit)")
    args = parser.parse_args()
    run_started = time.perf_counter()

    clean = read_conll(args.data / "train.txt", args.sentences)
    dev_texts, dev_targets = texts_and_targets(read_conll(args.data / "dev.txt", args.dev_sentences))
    adapter = NerAdapter(LABEL_CONFIG, epochs=args.epochs, seed=args.seed)
    texts, clean_targets = texts_and_targets(clean)
    features, dev_features = adapter.featurize(texts), adapter.featurize(dev_texts)
    n_entities = sum(len(t) for t in clean_targets)
    print(f"CoNLL-2003: {len(clean)} train sentences ({n_entities} entities), {len(dev_texts)} dev sentences; "
          f"MiniLM token classifier, {args.epochs} epochs, K={args.folds}\n")
    rounds_table = []
    for share in args.noise:
        noisy_sentences, changed = inject_span_noise(clean, share, CONLL_CLASSES, args.seed)
        targets = texts_and_targets(noisy_sentences)[1]
        truth = np.array([i in changed for i in range(len(clean))])
        outputs, oof_seconds, in_sample_seconds, full_model = outputs_of_both_sources(
            adapter, features, targets, args.folds, args.seed, args.outputs_cache,
            f"ner-{args.sentences}-noise{share}-K{args.folds}-epochs{args.epochs}-seed{args.seed}")
        print(f"## {share:.0%} of entities corrupted: {truth.sum()} of {len(truth)} sentences "
              f"({truth.mean():.1%}); OOF fits {oof_seconds:.0f} s, full fit {in_sample_seconds:.0f} s\n")
        print("| rule | flagged | precision | recall | F1 | AUPRC | P@k |\n|---|---:|---:|---:|---:|---:|---:|")
        for name, row, _ in scored_rules(adapter, targets, outputs, truth, args.seed):
            print(f"| {name} | {row['flagged']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                  f"{row['auprc']:.3f} | {row['p_at_k']:.3f} |")
        print()

        if share != args.noise[-1] or not args.rounds:
            continue
        if full_model is None:  # outputs came from the cache
            full_model = adapter.new_model().fit(features, targets)
        annotator = random.Random(args.seed)
        wrong = lambda: int(sum(t != c for t, c in zip(targets, clean_targets)))  # noqa: E731
        rounds_table.append((0, wrong(), 0, 0, 0, dev_f1(adapter, full_model, dev_features, dev_targets)))
        # As sync_round does: a sentence a human saw flagged and kept is shown again only on clearly
        # stronger doubt (its score lower by more than the confirmation margin).
        confirmed_quality = np.full(len(targets), np.nan)
        options = FlagOptions()
        for round_number in range(1, args.rounds + 1):
            if round_number > 1:  # the default's outputs again, on the labels as the last round left them
                outputs["blend"] = [adapter.blend_outputs(a, b) for a, b in zip(
                    out_of_fold(adapter, features, targets, args.folds, args.seed + round_number),
                    in_sample_outputs(model, features))]
            flagged, quality = detect(adapter, targets, outputs["blend"], options)
            flagged, _ = suppress_confirmed(flagged, quality, confirmed_quality, options.confirmation_margin)
            fixed = 0
            flagged_wrong = int(sum(targets[i] != clean_targets[i] for i in np.flatnonzero(flagged)))
            for i in np.flatnonzero(flagged):
                if targets[i] != clean_targets[i] and annotator.random() < args.annotator_accuracy:
                    targets[i] = clean_targets[i]
                    confirmed_quality[i] = np.nan
                    fixed += 1
                else:  # kept: right already, or the annotator missed the error
                    confirmed_quality[i] = quality[i]
            model = adapter.new_model().fit(features, targets)
            rounds_table.append((round_number, wrong(), int(flagged.sum()), flagged_wrong, fixed,
                                 dev_f1(adapter, model, dev_features, dev_targets)))
    if rounds_table:
        print(f"## Rounds at {args.noise[-1]:.0%} noise (annotator accuracy {args.annotator_accuracy:.0%})\n")
        print("| after round | sentences still wrong | flagged this round | of them wrong (precision) | fixed | "
              "dev entity F1 |\n|---:|---:|---:|---:|---:|---:|")
        for round_number, still_wrong, flagged, flagged_wrong, fixed, f1 in rounds_table:
            precision = f"{flagged_wrong} ({flagged_wrong / flagged:.2f})" if flagged else "-"
            print(f"| {round_number} | {still_wrong} | {flagged} | {precision} | {fixed} | {f1:.3f} |")
        clean_model = adapter.new_model().fit(features, clean_targets)
        print(f"\nThe same model on the clean labels: dev entity F1 "
              f"{dev_f1(adapter, clean_model, dev_features, dev_targets):.3f}")
    print(f"\nWhole run: {(time.perf_counter() - run_started) / 60:.1f} min")


if __name__ == "__main__":
    main()
