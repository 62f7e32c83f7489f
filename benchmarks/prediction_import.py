#!/usr/bin/env python3
"""What one prediction import request costs in a big project (by hand): Label Studio's default import path,
then its faster one (relabel/stack.py PREDICTION_IMPORT_FLAG).

Starts PostgreSQL and Label Studio on it without the flag, imports N tasks (no annotations), writes
predictions in requests of 2,000 and of 20,000, restarts Label Studio with the flag on and writes requests
of 2,000, 20,000 and 50,000 (where N leaves room). Prints a markdown table.

    .venv/bin/python -m benchmarks.prediction_import [--tasks 100000]

Needs Label Studio in .venv-ls (scripts/setup.sh) or LABEL_STUDIO_BIN, and Debian's postgresql.
"""
from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

from label_studio_sdk import LabelStudio

from relabel.stack import PREDICTION_IMPORT_FLAG, free_port, start_label_studio, start_postgres

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')
RESULT = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["a"]}}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="relabel-prediction-import-"))
    root.chmod(0o755)
    token, port = secrets.token_hex(20), free_port()
    postgres = start_postgres(root / "postgres", free_port(), root / "postgres.log")
    label_studio, rows = None, []
    try:
        def start(flag: bool):
            return start_label_studio(root / "label-studio", port, "import@example.com", "import-test-pw", token,
                                      root / f"label-studio-{flag}.log", database_url=postgres.url,
                                      extra_env={PREDICTION_IMPORT_FLAG: "true" if flag else "false"})

        label_studio = start(False)
        sdk = LabelStudio(base_url=label_studio.url, api_key=token, timeout=3600)
        project = sdk.projects.create(title="prediction import", label_config=CONFIG)
        for first in range(0, options.tasks, 5000):
            sdk.projects.import_tasks(id=project.id, request=[
                {"data": {"text": f"question number {n}"}} for n in range(first, min(options.tasks, first + 5000))])
        ids = [t.id for t in sdk.tasks.list(project=project.id, fields="task_only", include="id", page_size=5000)]
        written = 0

        def write(path: str, size: int) -> None:
            nonlocal written
            chunk = ids[written:written + size]
            if len(chunk) < size:
                return
            started = time.perf_counter()
            sdk.projects.import_predictions(id=project.id, request=[
                {"task": task, "model_version": "m1", "score": 0.5, "result": RESULT} for task in chunk])
            rows.append((path, size, time.perf_counter() - started))
            written += size

        write("default path", 2_000)
        write("default path", 20_000)
        label_studio.stop()
        label_studio = start(True)
        for size in (2_000, 20_000, 50_000):
            write("faster path (flag on)", size)
    finally:
        if label_studio is not None:
            label_studio.stop()
        postgres.stop()
    print(f"\nLabel Studio 1.23.2 on PostgreSQL, a project of {options.tasks} tasks, one request at a time\n")
    print("| import path | predictions in the request | seconds | predictions/s |")
    print("|---|---:|---:|---:|")
    for path, size, seconds in rows:
        print(f"| {path} | {size} | {seconds:.1f} | {size / seconds:.0f} |")


if __name__ == "__main__":
    main()
