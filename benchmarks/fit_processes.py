#!/usr/bin/env python3
"""What fitting the folds and the full-data model in child processes saves (run by hand; backend/fit_processes.py):
one training's fit_and_predict, K = 3, on the CPU, with the fits in turn (RELABEL_FIT_PROCESSES=1) and side by
side (one process per CPU), for each task type's small generated project (the tests' data). Prints a table:
seconds each way, the processes the default (RELABEL_FIT_PROCESSES=0) chooses, and whether the outputs are the
same.

    .venv/bin/python -m benchmarks.fit_processes [--only text-generation image-classification ...]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from relabel.adapters.base import Example
from relabel.adapters.models.torch_threads import available_cpus
from relabel.backend.config import Settings
from relabel.backend.fit_processes import fit_processes_for
from relabel.backend.model_store import ModelStore
from relabel.backend.training import fit_and_predict, process_fits


def text_generation(folder: Path):
    from tests.textgen_data import TEXTGEN_CONFIG, make_pairs

    pairs = make_pairs(120, seed=11)
    return TEXTGEN_CONFIG, {}, [Example(i + 1, text, answer, i + 1) for i, (text, answer) in enumerate(pairs)]


def image_classification(folder: Path):
    from tests.image_data import IMAGE_CONFIG, write_shapes

    files = write_shapes(folder, per_class=20, seed=5)
    return IMAGE_CONFIG, {"image_size": 32, "image_epochs": 10}, \
        [Example(i + 1, str(path), shape, i + 1) for i, (path, shape) in enumerate(files)]


def ner(folder: Path):
    from tests.test_ner_round import NER_CONFIG, as_task, make_sentence

    rng = random.Random(3)
    tasks = []
    for i in range(60):
        task = as_task(*make_sentence(rng))
        task["id"], task["annotations"][0]["id"] = i + 1, i + 1
        tasks.append(task)
    return NER_CONFIG, {}, tasks


PROJECTS = {"text-generation": text_generation, "image-classification": image_classification, "ner": ner}


def timed_training(label_config: str, options: dict, rows: list, fit_processes: int) -> tuple[float, int, list]:
    """Seconds of one training with `fit_processes`, the processes the default would choose, the outputs."""
    settings = Settings(device="cpu", n_folds=3, fit_processes=fit_processes, **options)
    adapter = settings.build_adapter(label_config)
    settings = settings.for_adapter(adapter, len(rows))
    examples = [row if isinstance(row, Example) else adapter.example_from_task(row) for row in rows]
    chosen = fit_processes_for(adapter, "cpu", settings.n_folds, len(examples))
    with tempfile.TemporaryDirectory() as models:
        store = ModelStore(models)
        started = time.perf_counter()
        record = fit_and_predict(adapter, settings, examples, [], lambda *_: None, make_fold_runner=lambda f, t:
                                 process_fits(adapter, settings, store, {"id": 1, "label_config": label_config}, f, t))
        return time.perf_counter() - started, chosen, [item["output"] for item in record["items"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(PROJECTS), default=sorted(PROJECTS))
    arguments = parser.parse_args()
    cpus = available_cpus()
    print(f"| task type | items | in turn (s) | {cpus} processes (s) | the default's processes | same outputs |\n"
          "|---|---:|---:|---:|---:|---|")
    for name in arguments.only:
        with tempfile.TemporaryDirectory() as folder:
            label_config, options, rows = PROJECTS[name](Path(folder))
            in_turn, default, outputs_in_turn = timed_training(label_config, options, rows, 1)
            side_by_side, _, outputs = timed_training(label_config, options, rows, cpus)
        print(f"| {name} | {len(rows)} | {in_turn:.1f} | {side_by_side:.1f} | {default} | "
              f"{'yes' if outputs == outputs_in_turn else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
