#!/usr/bin/env python3
"""NER with real annotation errors (by hand): CoNLL-2003's test set against its human correction, CoNLL++.

CoNLL++ (Wang et al. 2019, "CrossWeigh") is the CoNLL-2003 English test set re-annotated by hand: 186 of
its 3,453 sentences had a wrong entity (a wrong type, a missed or a spurious span). Here the original
labels are the project's, the corrected ones the truth: a sentence is really wrong where the two differ.
The NER adapter's fine-tuned MiniLM token classifier predicts the first N sentences out of fold and in
sample (as benchmarks/ner_detection.py, same rules, same code path: `adapter.find_disagreements`);
precision in the top 25 / 50 of each ranking says what an annotator opening the round's tab would see.

Neither file ships with the product or is downloaded by it: bring them in once, e.g. from the public
repository pfliu-nlp/Named-Entity-Recognition-NER-Papers (ner_dataset/CoNLL2003/test.txt and
ner_dataset/CoNLL++/conllpp_test.txt), and name them:

    .venv/bin/python -m benchmarks.ner_real_errors --original test.txt --corrected conllpp_test.txt [--sentences 800]

`--second-correction ReC_test.txt` (ReCoNLL, Fu et al. 2020: the same test set corrected by other people,
ner_dataset/ReCoNLL/ in that repository) scores the same rankings against a second truth. Its tokenization
differs in a few sentences: those are matched by their words, and the ones it lacks are left out of its table.

CleanCoNLL (Rücker and Akbik 2023, public repository flairNLP/CleanCoNLL) re-annotated all of CoNLL-2003 with
the help of entity links and rounds of cross-checking; it changes about one sentence in eight, more than
CoNLL++. It ships its labels without the words: rebuild its files from the CoNLL-2003 words with its
create_cleanconll_from_conll03.sh (the patch and the paste, with the original files at hand) and keep the
word, POS and final NER columns. It re-splits a few sentences, so its sentences are matched by their words
(those it lacks are left out); it serves as `--corrected` for the dev set (testa) or as `--second-correction`
for the test set:

    .venv/bin/python -m benchmarks.ner_real_errors --original ../shared/data/conll2003/dev.txt \
        --corrected cleanconll.dev --sentences 1000
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from relabel.adapters.tasks.ner import NerAdapter
from benchmarks.ner_data import read_conll
from benchmarks.detection_quality import scores
from benchmarks.ner_detection import (LABEL_CONFIG, RULES, detect, outputs_of_both_sources, scored_rules,
                                      texts_and_targets)


def aligned(original: Path, corrected: Path, limit: int) -> tuple[list, np.ndarray, bool]:
    """The first `limit` sentences with their original spans, which of them the correction changed, and whether
    they were matched by their words.

    Where the correction also re-split sentences or tokens (CleanCoNLL), its sentences are matched by their
    words, and the first `limit` sentences it holds are kept (the others it cannot judge)."""
    before, after = read_conll(original), read_conll(corrected)
    if len(before) == len(after) and all(a.words == b.words for a, b in zip(before, after)):
        before, after = before[:limit], after[:limit]
        return before, np.array([a.spans != b.spans for a, b in zip(before, after)]), False
    found, changed = changed_elsewhere(before, corrected)
    if found.mean() < 0.9:
        raise SystemExit(f"{corrected.name} holds only {found.sum()} of the {len(found)} sentences of "
                         f"{original.name}: not a correction of it")
    keep = np.flatnonzero(found)[:limit]
    print(f"{corrected.name} re-splits some sentences: {len(found) - found.sum()} of {original.name}'s "
          f"{len(found)} are not in it and are left out")
    return [before[i] for i in keep], changed[keep], True


def changed_elsewhere(sentences: list, correction: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence: whether `correction` holds it (matched by its words), and whether it changed its spans."""
    corrected = {tuple(s.words): s.spans for s in read_conll(correction)}
    found = np.array([tuple(s.words) in corrected for s in sentences])
    changed = np.array([bool(f) and corrected[tuple(s.words)] != s.spans for s, f in zip(sentences, found)])
    return found, changed


def second_truth_table(adapter, targets: list, outputs: dict, found: np.ndarray, changed: np.ndarray,
                       first_truth: np.ndarray) -> list[str]:
    """Every rule's scores against the second correction, on the sentences it holds."""
    lines = ["| rule | flagged | precision | recall | F1 | AUPRC | P@25 | changed in both: flagged |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    both = changed & first_truth
    for name, (source, options) in RULES.items():
        flagged, quality = detect(adapter, targets, outputs[source], options)
        row = scores(flagged[found], quality[found], changed[found])
        lines.append(f"| {name} | {row['flagged']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
                     f"| {row['auprc']:.3f} | {precision_at(quality[found], changed[found], 25):.2f} "
                     f"| {int((flagged & both).sum())} of {int(both.sum())} |")
    return lines


def precision_at(quality: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of really wrong sentences among the k with the lowest label quality (the tab's first k)."""
    return float(truth[np.argsort(quality, kind="stable")[:k]].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, required=True, help="CoNLL-2003 test set (eng.testb)")
    parser.add_argument("--corrected", type=Path, required=True, help="CoNLL++ test set")
    parser.add_argument("--second-correction", type=Path, help="a second corrected test set (ReCoNLL), scored apart")
    parser.add_argument("--sentences", type=int, default=800)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs-cache", type=Path, default=None,
                        help="folder keeping the out-of-fold and in-sample outputs: a run that finds them there "
                             "scores the rules again without fitting")
    args = parser.parse_args()
    started = time.perf_counter()

    sentences, truth, matched_by_words = aligned(args.original, args.corrected, args.sentences)
    texts, targets = texts_and_targets(sentences)
    adapter = NerAdapter(LABEL_CONFIG, epochs=args.epochs, seed=args.seed)
    features = adapter.featurize(texts)
    # cached by the original file's name (test.txt's outputs are "conll-test-..."), and by the correction's where
    # the sentences are those it holds
    kept = f"-in-{args.corrected.stem}" if matched_by_words else ""
    outputs = outputs_of_both_sources(adapter, features, targets, args.folds, args.seed, args.outputs_cache,
                                      f"conll-{args.original.stem}{kept}-{args.sentences}-K{args.folds}"
                                      f"-epochs{args.epochs}-seed{args.seed}")[0]
    print(f"CoNLL-2003 {args.original.name}, first {len(truth)} sentences of at least 3 words: {truth.sum()} "
          f"corrected in {args.corrected.name} ({truth.mean():.1%}); MiniLM token classifier, {args.epochs} epochs, "
          f"K={args.folds}\n")
    print("| rule | flagged | precision | recall | F1 | AUPRC | P@k | P@25 | P@50 |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row, quality in scored_rules(adapter, targets, outputs, truth, args.seed):
        print(f"| {name} | {row['flagged']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
              f"{row['auprc']:.3f} | {row['p_at_k']:.3f} | {precision_at(quality, truth, 25):.2f} | "
              f"{precision_at(quality, truth, 50):.2f} |", flush=True)
    if args.second_correction:
        found, changed = changed_elsewhere(sentences, args.second_correction)
        print(f"\n{args.second_correction.name}: holds {found.sum()} of the {len(found)} sentences; changed "
              f"{changed.sum()} of them ({(changed & truth).sum()} also changed in {args.corrected.name})\n")
        print("\n".join(second_truth_table(adapter, targets, outputs, found, changed, truth)), flush=True)
    print(f"\nWhole run: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
