#!/usr/bin/env python3
"""What the project's embedding cache saves (run by hand): TREC's 4,965 questions featurized as three
training rounds would (cold; the same texts; 100 new texts), with a fresh cache folder. Prints a table.

    .venv/bin/python -m benchmarks.feature_cache
"""
from __future__ import annotations

import tempfile
import time

from benchmarks.datasets import DEFAULT_TREC, TREC_CLASSES, label_config, load_trec
from relabel.adapters import adapter_for_config


def main() -> None:
    texts, _ = load_trec(DEFAULT_TREC / "train.txt")
    rounds = (("round 1 (cold cache)", texts), ("round 2 (same texts)", texts),
              ("round 3 (100 new texts)", texts + [f"{t} (asked again)" for t in texts[:100]]))
    print("| round | texts | embedded | seconds |\n|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        adapter = adapter_for_config(label_config(TREC_CLASSES), feature_cache_dir=directory)
        for name, batch in rounds:
            started = time.perf_counter()
            adapter.featurize(batch)
            print(f"| {name} | {len(batch)} | {adapter.texts_embedded_} | {time.perf_counter() - started:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
