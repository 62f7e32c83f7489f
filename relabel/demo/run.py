"""The bundled demo: Label Studio + the Re-Label backend + a noisy topic dataset + one round.

    python scripts/demo.py          # start (or reuse) the services, create the project, run the next round
    python scripts/demo.py --stop   # stop the services the demo started

Everything lives in the demo folder (the checkout's .demo/: Label Studio's SQLite data, models, logs,
round reports). The services keep running after the round so the "Re-label round N" tab can be
opened in a browser.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
from pathlib import Path

import requests

from relabel.demo.data import LABEL_CONFIG, as_label_studio_tasks, make_dataset
from relabel.rounds import cli as sync_round
from relabel.rounds.chart import history_rows
from relabel.stack import free_port, start_backend, start_label_studio

PROJECT_TITLE = "Re-Label demo: topics with noisy labels"
USERNAME = "demo@example.com"


def port_or_free(preferred: int) -> int:
    """`preferred` when nothing listens there (a just-stopped server's port counts as free), else any free port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def healthy(url: str) -> bool:
    try:
        return requests.get(url + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_services(demo_dir: Path) -> dict:
    state_file = demo_dir / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state and healthy(state["label_studio_url"]) and healthy(state["backend_url"]):
        print(f"Reusing Label Studio at {state['label_studio_url']} and the backend at {state['backend_url']}")
        return state
    stop_services(demo_dir, quiet=True)
    state = {"token": state.get("token") or secrets.token_hex(20),
             "password": state.get("password") or secrets.token_urlsafe(9),
             "label_studio_port": state.get("label_studio_port", 8080), "backend_port": state.get("backend_port", 9090)}
    demo_dir.mkdir(exist_ok=True)
    print("Starting Label Studio (the first start migrates its database: about a minute) ...")
    # The same ports as last time when possible: Label Studio stores the backend's URL.
    label_studio = start_label_studio(demo_dir / "label-studio", port_or_free(state["label_studio_port"]), USERNAME,
                                      state["password"], state["token"], demo_dir / "logs" / "label-studio.log")
    print("Starting the Re-Label backend ...")
    backend = start_backend(port_or_free(state["backend_port"]), label_studio.url, state["token"], demo_dir / "models",
                            demo_dir / "logs" / "backend.log")
    state.update(label_studio_url=label_studio.url, backend_url=backend.url, pids=[label_studio.process.pid,
                 backend.process.pid], label_studio_port=int(label_studio.url.rsplit(":", 1)[1]),
                 backend_port=int(backend.url.rsplit(":", 1)[1]))
    state_file.write_text(json.dumps(state))
    state_file.chmod(0o600)
    return state


def stop_services(demo_dir: Path, quiet: bool = False) -> None:
    state_file = demo_dir / "state.json"
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    for pid in state.get("pids", []):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    state.pop("pids", None)
    state_file.write_text(json.dumps(state))
    if not quiet:
        print("Stopped the demo's Label Studio and backend (data stays in .demo/).")


def ensure_project(state: dict, demo_dir: Path) -> tuple[int, dict]:
    """The demo project and, for scoring the demo, each task's true label."""
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=state["label_studio_url"], api_key=state["token"])
    truth_path = demo_dir / "ground_truth.json"
    for project in ls.projects.list():
        if project.title == PROJECT_TITLE and truth_path.exists():
            return project.id, {int(k): v for k, v in json.loads(truth_path.read_text()).items()}
    rows = make_dataset(n_items=300, noise_rate=0.15, seed=0)
    project = ls.projects.create(title=PROJECT_TITLE, label_config=LABEL_CONFIG,
                                 description="300 short texts; 15% of the labels are wrong on purpose.")
    ls.projects.import_tasks(id=project.id, request=as_label_studio_tasks(rows))
    by_text = {row["text"]: row for row in rows}
    truth = {task.id: {"true_label": by_text[task.data["text"]]["true_label"],
                       "flipped": by_text[task.data["text"]]["flipped"]}
             for task in ls.tasks.list(project=project.id, fields="task_only")}
    truth_path.write_text(json.dumps(truth))
    print(f"Created project {project.id} with {len(rows)} labeled texts "
          f"({sum(r['flipped'] for r in rows)} with a wrong label)")
    return project.id, truth


def simulate_annotator(state: dict, project_id: int, truth: dict, demo_dir: Path) -> int:
    """Answer every task of the last round's tab with its true label, as a careful annotator would: the
    demo's stand-in for a person fixing labels between rounds. Returns how many tasks it answered."""
    from label_studio_sdk import LabelStudio

    from relabel.demo.data import annotation_result

    reports = sorted((demo_dir / "rounds").glob("round-*/report.json"), key=lambda p: int(p.parent.name.split("-")[1])
                     if p.parent.name.split("-")[1].isdigit() else 0)
    if not reports:
        return 0
    ls = LabelStudio(base_url=state["label_studio_url"], api_key=state["token"])
    flagged = json.loads(reports[-1].read_text())["flagged_tasks"]
    for task in flagged:
        ls.annotations.create(id=task["task"], result=annotation_result(truth[task["task"]]["true_label"]))
    return len(flagged)


def main(argv: list[str] | None = None, demo_dir: Path = Path(".demo")) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop", action="store_true", help="stop the demo's services")
    parser.add_argument("--simulate-annotator", action="store_true",
                        help="before the next round, answer the last round's tab with the true labels (the demo "
                             "knows them), as a person fixing labels would")
    options = parser.parse_args(argv)
    demo_dir = demo_dir.resolve()
    if options.stop:
        stop_services(demo_dir)
        return 0
    state = start_services(demo_dir)
    project_id, truth = ensure_project(state, demo_dir)
    if options.simulate_annotator:
        print(f"Simulated annotator: answered {simulate_annotator(state, project_id, truth, demo_dir)} task(s) of the "
              f"last round's tab with their true labels")
    os.environ.update(LABEL_STUDIO_URL=state["label_studio_url"], LABEL_STUDIO_API_KEY=state["token"])
    code = sync_round.main(["--project", str(project_id), "--backend-url", state["backend_url"],
                            "--rounds-dir", str(demo_dir / "rounds")])
    if code:
        return code
    report_files = sorted((demo_dir / "rounds").glob("round-*/report.json"), key=os.path.getmtime)
    report = json.loads(report_files[-1].read_text())
    really_wrong = [t for t in report["flagged_tasks"] if t["human"] != truth[t["task"]]["true_label"]]
    print(f"Demo check against the planted errors: {len(really_wrong)} of the {report['flagged']} flagged tasks "
          f"really have a wrong label", end="")
    if report["round"] == 1:
        print(f"; the dataset has {sum(row['flipped'] for row in truth.values())} wrong labels in all", end="")
    print(".")
    scores = [(row["round"], row["score"]) for row in history_rows(report) if row["score"] is not None]
    if scores:
        metric = report["evaluation"]["primary_metric"]
        print(f"Model score ({metric} on the evaluation tasks): "
              + " -> ".join(f"round {number} {score:.3f}" for number, score in scores))
    print(f"\nOpen {report['tab_url']}\nLog in as {USERNAME} / {state['password']}")
    print(f"The round's report with its chart: {report_files[-1].parent / 'report.html'}")
    print("Fix labels in the tab (or let --simulate-annotator do it), then run this command again for the next "
          "round. Stop the services with: .venv/bin/python scripts/demo.py --stop")
    return 0
