"""One Re-Label round on a Label Studio project, as a library: `run_round(RoundOptions(...))`.

Take the project's round lock (one round at a time), connect the backend to the project (once), set
this round's settings, train through Label Studio (the backend writes every labeled task's
out-of-fold prediction as a pre-annotation), read the model's stored outputs, score the round
(relabel.rounds.scoring: flags and report, no writes), let the task type's round policy add its part
(relabel.rounds.policies), then publish it (relabel.rounds.publishing: tags, tabs) and write the
report files. The driver reaches the backend only over HTTP (relabel.clients.backend).
"""
from __future__ import annotations

from pathlib import Path

from relabel.adapters import UnsupportedLabelConfig, adapter_for_config
from relabel.clients.backend import BackendClient
from relabel.clients.label_studio import LabelStudioClient, LabelStudioError
from relabel.clients.media import MediaPolicy
from relabel.rounds.errors import RoundError
from relabel.rounds.history import project_history
from relabel.rounds.human_eval import draw_sample
from relabel.rounds.jobs import ensure_backend_connected, run_backend_job, train_through_label_studio
from relabel.rounds.locks import RoundLock
from relabel.rounds.options import RoundOptions
from relabel.rounds.policies import ScoredRoundView, policy_for
from relabel.rounds.publishing import publish_round, task_previews, write_report_files
from relabel.rounds.scoring import score_round
from relabel.rounds.tabs import next_round


def run_round(options: RoundOptions) -> dict:
    """Run (or re-run) a round; returns its report (report.json's content, plus `report_dir`)."""
    ls = LabelStudioClient(options.label_studio_url, options.api_key,
                           media_policy=MediaPolicy(options.label_studio_url.rstrip("/"), options.media_hosts))
    backend = BackendClient(options.backend_url, options.basic_auth)
    project_id = options.project
    project = ls.get_project(project_id)
    try:
        adapter = adapter_for_config(project.get("label_config") or "")
    except UnsupportedLabelConfig as error:
        raise RoundError(f"project {project_id}: {error}") from None
    policy = policy_for(adapter.round_policy)
    backend.health()
    with RoundLock(backend, project_id) as lock:  # one round at a time per project
        return _run_locked_round(options, ls, backend, project, adapter, policy, lock)


def _run_locked_round(options: RoundOptions, ls: LabelStudioClient, backend: BackendClient, project: dict,
                      adapter, policy, lock: RoundLock) -> dict:
    project_id, label_config = project["id"], project.get("label_config") or ""
    round_number = options.round or next_round(ls.list_views(project_id))
    ml_backend = None if options.dry_run else ensure_backend_connected(
        ls, project_id, options.backend_url_for_label_studio or options.backend_url, options.basic_auth)

    # This round's settings; an option left out means the backend's default.
    backend.set_project_settings(project_id, {"n_folds": options.folds, "n_repeats": options.repeats,
                                              "prediction_source": options.prediction_source,
                                              "neighbour_vote": bool(options.flags.neighbour_weight) or None,
                                              "in_sample_outputs": bool(options.flags.in_sample_weight) or None,
                                              **policy.project_settings(round_number)})
    if options.dry_run:
        job = run_backend_job(backend, project_id, options.timeout, options.poll_interval, options.quiet,
                              write_predictions=False)
    else:
        job = train_through_label_studio(ls, backend, project_id, ml_backend, options.timeout, options.start_timeout,
                                         options.poll_interval, options.quiet)
    stored = backend.predictions(project_id, job["result"]["model_version"])
    # Read tasks and score as the backend's model did (e.g. which data fields are click features).
    adapter = adapter_for_config(label_config, {adapter.name: stored.get("adapter_options") or {}})
    rounds_dir = Path(options.rounds_dir)
    tasks = ls.list_tasks(project_id, with_labels=policy.reads_task_labels) \
        if policy.reads_tasks(options.dry_run) or options.tab.patterns else []
    texts = {task["id"]: adapter.task_text(task) for task in tasks}
    scored = score_round(adapter, stored, project, round_number,
                         project_history(backend, project_id, round_number, rounds_dir), options.flags, policy,
                         options.dry_run, people=label_studio_people(ls),
                         predictions_of=lambda version, fields=None: backend.predictions(project_id, version, fields),
                         tab=options.tab,
                         texts=texts)

    out_dir = rounds_dir / (f"round-{round_number}" + ("-dry-run" if options.dry_run else ""))
    report = scored.report
    report.update(policy.finish(backend, ScoredRoundView(
        project_id, scored.model_version, stored["items"], {d.task_id for d in scored.flags}, adapter.label_column,
        tasks, out_dir), options))
    sample = draw_sample(stored, options.human_eval, project_id, round_number) if options.human_eval else []
    report["human_eval_sample"] = {"tasks": sample, "model_version": scored.model_version} if sample else None
    tab_url, class_tabs = None, {}
    if not options.dry_run:
        lock.check()
        tab_url, class_tabs = publish_round(ls, project_id, scored, adapter, policy, tasks, options.per_class,
                                            options.quiet, sample)
    report.update(tab_url=tab_url, class_tabs=class_tabs)
    if not options.dry_run:
        backend.save_round(project_id, report)  # the history, with the project: any machine's next round reads it
    write_report_files(out_dir, report, task_previews(ls, adapter, report, str(rounds_dir / ".media")), ls.url)
    report["report_dir"] = str(out_dir)
    return report


def label_studio_people(ls: LabelStudioClient) -> dict[int, str]:
    """User id -> e-mail, for the report's annotators (empty when this token may not list users)."""
    try:
        return ls.users()
    except LabelStudioError:
        return {}
