"""The backend's jobs: training (read a project from Label Studio, predict every labeled task out of fold,
fit the full-data model, store both, write the predictions back as pre-annotations), and for task types
that drop their flagged rows, the comparison of models trained with and without them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np

from relabel.adapters import InvalidTask, RoundPolicy, TaskAdapter, UnsupportedLabelConfig
from relabel.adapters.base import Progress, no_progress
from relabel.adapters.data.folds import (in_sample_outputs, outputs_without_suspects,
                                         repeated_out_of_fold_outputs, take)
from relabel.adapters.noise.neighbours import reduce_dimensions
from relabel.adapters.noise.probabilities import confirmed_labels
from relabel.adapters.task_fields import ROUND_FIELD
from relabel.backend.config import Settings
from relabel.backend.evaluation import held_out_tasks, previous_model_score, rounded
from relabel.backend.fit_processes import ProcessFits, fit_processes_for
from relabel.backend.model_store import ModelStore, write_json_atomic
from relabel.clients.label_studio import LabelStudioClient

log = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 10
#: the job stage that reads the project and checks every task; its errors are the user's to fix
CHECKING_STAGE = "reading and checking tasks"


class TrainingError(RuntimeError):
    """The project cannot be trained on as it is; the message says why and where."""


def read_examples(adapter: TaskAdapter, tasks: list[dict], progress: Progress = no_progress) -> list:
    """Examples of every task; all unusable tasks are named in one error rather than skipped silently.
    (Image adapters download each task's image here: progress is reported per task.)"""
    examples, problems = [], []
    for number, task in enumerate(tasks):
        if number % 50 == 0:
            progress(CHECKING_STAGE, number, len(tasks))
        try:
            examples.append(adapter.example_from_task(task))
        except InvalidTask as problem:
            problems.append(str(problem))
    if problems:
        listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = f" (and {len(problems) - MAX_LISTED_PROBLEMS} more)" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise TrainingError(f"{len(problems)} task(s) cannot be used: {listed}{more}")
    return examples


def flagged_round(task: dict) -> int | None:
    """The round that last flagged a task (its ROUND_FIELD tag), or None. (Tags written in bulk hold the
    number as Label Studio stores it: 3.0.)"""
    value = (task.get("data") or {}).get(ROUND_FIELD)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def rows_left_in(tasks: list[dict], before_round: int | None) -> list[dict]:
    """The tasks still in the training set of a task type that drops its flagged rows (clicks):
    those no round before `before_round` flagged. Re-running a round keeps the rows that round
    itself dropped, so its result does not change."""
    if before_round is None:
        return tasks
    return [t for t in tasks if flagged_round(t) is None or flagged_round(t) >= before_round]


def fingerprint(adapter: TaskAdapter, settings: Settings, label_config: str, examples: list,
                evaluation_ids: set | frozenset = frozenset(), confirmed_ids: set | frozenset = frozenset()) -> str:
    """What a model learns from: labeling config, adapter settings, prediction source, every (task, input,
    label), which tasks it is scored on instead of trained on, and (where a second pass runs) which labels
    people confirmed."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"adapter": adapter.name, "settings": adapter.settings(), "label_config": label_config,
                              "source": settings.prediction_source, "folds": settings.n_folds,
                              "repeats": settings.n_repeats, "seed": settings.seed,
                              "evaluation": sorted(evaluation_ids),
                              **({"confirmed": sorted(confirmed_ids)} if settings.second_pass and confirmed_ids
                                 else {}),
                              **({"neighbour_vote": True} if settings.neighbour_vote else {}),
                              **({"in_sample_outputs": True} if settings.in_sample_outputs else {}),
                              **({"second_pass": settings.second_pass} if settings.second_pass is not None else {})},
                             sort_keys=True).encode())
    for example in examples:
        digest.update(json.dumps([example.task_id, example.input, example.target]
                                 + ([sorted(example.votes.items(), key=str)] if example.votes else []),
                                 default=str).encode())
    return digest.hexdigest()


def project_adapter(project: dict, settings: Settings, client: LabelStudioClient) -> TaskAdapter:
    """The adapter of a project's labeling config, reading media with the client's credentials."""
    try:
        return settings.build_adapter(project.get("label_config") or "",
                                      fetch_media=client.media_fetcher(settings.media_cache_dir(project["id"])),
                                      feature_cache_dir=settings.feature_cache_dir(project["id"]))
    except UnsupportedLabelConfig as error:
        raise TrainingError(f"project {project['id']}: {error}") from None


def training_tasks(adapter: TaskAdapter, settings: Settings, client: LabelStudioClient, project_id: int) -> list[dict]:
    """The project's tasks a model trains on: all, or for a task type whose rounds drop the flagged rows,
    those no earlier round dropped."""
    tasks = client.list_tasks(project_id)
    if adapter.round_policy is RoundPolicy.DROP_ROWS:
        tasks = rows_left_in(tasks, settings.drop_flagged_before_round)
    return tasks


def train_project(project_id: int, settings: Settings, client: LabelStudioClient, store: ModelStore,
                  progress: Progress = no_progress, write_predictions: bool = True, fold_runner_for=None,
                  job_id: str | None = None) -> dict:
    """Train the project's model and store it with its out-of-fold outputs; write the predictions back.
    `fold_runner_for(label_config, adapter_options, features, targets)` may return a FoldRunner that fits
    the folds elsewhere (backend.fold_jobs), or None to fit them here. `job_id`: the job it runs in (its
    scratch folders are named after it)."""
    progress(CHECKING_STAGE, 0, 1)
    project = client.get_project(project_id)
    adapter = project_adapter(project, settings, client)
    settings = settings.for_adapter(adapter)
    tasks = training_tasks(adapter, settings, client, project_id)
    if not tasks:
        raise TrainingError(f"project {project_id} has no tasks: import and label some first")
    examples = read_examples(adapter, tasks, progress)
    labeled = [e for e in examples if e.target is not None]
    unlabeled = [e for e in examples if e.target is None]
    problem = adapter.training_problem([e.target for e in labeled], settings.n_folds)
    if problem:
        raise TrainingError(f"project {project_id}: {problem}")
    settings = settings.for_adapter(adapter, len(labeled))
    progress(CHECKING_STAGE, len(tasks), len(tasks))

    evaluation_ids, evaluation_source = held_out_tasks(adapter, settings, tasks, labeled)
    # only a second pass reads them: the round reports are not read for every training
    confirmed_ids = confirmed_tasks(adapter, store.rounds(project_id), labeled) if settings.second_pass else set()
    model_fingerprint = fingerprint(adapter, settings, project.get("label_config"), examples, evaluation_ids,
                                    confirmed_ids)
    version = store.version_for(project_id, model_fingerprint)
    stored = store.find(project_id, version)
    previous = store.latest(project_id)
    if stored is not None:
        # Same labels, same settings: this model exists. Reuse it and only finish what a failed run left.
        log.info("model reused", extra={"project": project_id, "model_version": version})
        store.mark_latest(project_id, version)
        record = store.predictions(project_id, version)
    else:
        def make_fold_runner(features, targets):
            queued = fold_runner_for(project.get("label_config"), settings.adapter_options(), features, targets) \
                if fold_runner_for is not None else None
            return queued or process_fits(adapter, settings, store, project, features, targets, job_id)
        record = fit_and_predict(adapter, settings, labeled, unlabeled, progress, make_fold_runner, evaluation_ids,
                                 confirmed_ids)
        progress("scoring the previous model", 0, 1)
        record["evaluation"] = {
            "source": evaluation_source, "tasks": len(evaluation_ids), "primary_metric": adapter.primary_metric,
            "model": None if record["evaluation_model"] is None else {"version": version,
                                                                      **record.pop("evaluation_model")},
            "previous": previous_model_score(adapter, settings, store, project_id, previous,
                                             [e for e in labeled if e.task_id in evaluation_ids])}
        # adapter_options let the round driver read tasks and score flags as this model did (e.g. the
        # click features): the options the adapter was built with
        record.update(model_version=version, project=project_id, label_config=project.get("label_config"),
                      adapter_settings=adapter.settings(),
                      adapter_options=settings.adapter_options().get(adapter.name, {}))
        with store.writing_version(project_id, version, {
                "fingerprint": model_fingerprint, "adapter": adapter.name, "labeled": len(labeled),
                "unlabeled": len(unlabeled), "label_config": project.get("label_config"),
                "settings": adapter.settings(), "prediction_source": settings.prediction_source}) as scratch:
            adapter.save_model(record.pop("model"), scratch)
            write_json_atomic(os.path.join(scratch, "predictions.json"), record)

    result = {"model_version": version, "labeled": len(labeled), "unlabeled": len(unlabeled),
              "reused": stored is not None, "predictions_written": 0, "predictions_existing": 0,
              "texts_embedded": getattr(adapter, "texts_embedded_", None),
              "second_pass_suspects": record.get("second_pass_suspects")}
    if write_predictions:
        already = client.tasks_with_predictions(project_id, version)
        rows = [{"task": item["task"], "model_version": version, **item["prediction"]}
                for item in record["items"] + record["unlabeled"] if item["task"] not in already]
        progress("writing predictions", 0, len(rows))
        result["predictions_written"] = client.import_predictions(
            project_id, rows, progress=lambda done, total: progress("writing predictions", done, total))
        result["predictions_existing"] = len(already)
    return result


def process_fits(adapter: TaskAdapter, settings: Settings, store: ModelStore, project: dict, features,
                 targets, job_id: str | None = None) -> ProcessFits | None:
    """A runner fitting the folds and the full-data model in child processes, where that pays
    (backend.fit_processes.fit_processes_for); None to fit them here, in turn. Its folder is the job's
    scratch folder `fits` (removed with the job's other scratch if the job is found dead), or, outside a job,
    a fresh folder under the project's jobs/."""
    processes = fit_processes_for(adapter, settings.device, settings.n_folds, len(targets), settings.fit_processes)
    if processes < 2:
        return None
    log.info("fits in child processes", extra={"project": project["id"], "processes": processes, "job": job_id})
    if job_id is not None:
        directory = store.job_scratch_dir(project["id"], job_id, "fits")
        shutil.rmtree(directory, ignore_errors=True)  # a previous attempt's (one job runs one training at a time)
    else:
        parent = os.path.join(store.project_dir(project["id"]), "jobs")
        os.makedirs(parent, exist_ok=True)
        directory = tempfile.mkdtemp(prefix="fits-", dir=parent)
    return ProcessFits(directory, project.get("label_config"), settings.adapter_options(), settings.device,
                       features, targets, processes)


def run_job(job: dict, progress: Progress, settings: Settings, store: ModelStore,
            client: LabelStudioClient | None = None, fold_runner_for=None) -> dict:
    """A job's work, with the project's own settings over the backend's: train_project, or what the
    job's options name (compare_dropped). Without `client`, Label Studio is reached with the configured
    LABEL_STUDIO_URL and API key."""
    project_id = job["project"]
    if client is None:
        if not settings.label_studio_api_key:
            raise TrainingError("the training worker has no Label Studio credentials: set LABEL_STUDIO_URL and "
                                "LABEL_STUDIO_API_KEY (a legacy token or a personal access token)")
        client = settings.label_studio_client()
    settings = settings.with_overrides(store.project_settings(project_id))
    if job["options"].get("compare_dropped"):
        return compare_dropped_rows(project_id, settings, client, store, job["options"]["compare_dropped"], progress)
    return train_project(project_id, settings, client, store, progress,
                         write_predictions=job["options"].get("write_predictions", True),
                         fold_runner_for=fold_runner_for, job_id=job.get("id"))


def compare_dropped_rows(project_id: int, settings: Settings, client: LabelStudioClient, store: ModelStore,
                         request: dict, progress: Progress = no_progress) -> dict:
    """Does dropping a round's flagged rows help? The click model trained with and without them
    (`TaskAdapter.evaluate_dropping`), on the rows model `request["model_version"]` trained on;
    `request["dropped_tasks"]` are the task ids the round drops."""
    progress(CHECKING_STAGE, 0, 1)
    version = request["model_version"]
    record = store.predictions(project_id, version) if store.find(project_id, version) else None
    if record is None:
        raise TrainingError(f"project {project_id} has no model {version}")
    project = client.get_project(project_id)
    adapter = project_adapter(project, settings, client)
    if adapter.round_policy is not RoundPolicy.DROP_ROWS:
        raise TrainingError(f"project {project_id}: {adapter.name} re-labels its flagged tasks; it drops no rows")
    by_id = {task["id"]: task for task in training_tasks(adapter, settings, client, project_id)}
    trained = [item["task"] for item in record["items"] if item["task"] in by_id]
    examples = read_examples(adapter, [by_id[task_id] for task_id in trained], progress)
    dropped = set(request["dropped_tasks"])
    progress("training with and without the dropped rows", 0, 1)
    try:
        dev = adapter.evaluate_dropping([e.input for e in examples], [e.target for e in examples],
                                        np.array([task_id in dropped for task_id in trained], dtype=bool),
                                        seed=settings.seed)
    except ValueError as error:  # too few rows, or a single class, to split off a dev set
        return {"model_version": version, "dev": None, "dev_problem": f"not measured: {error}"}
    progress("training with and without the dropped rows", 1, 1)
    return {"model_version": version, "dev": dev, "dev_problem": None}


def confirmed_tasks(adapter: TaskAdapter, reports: list[dict], labeled: list) -> set[int]:
    """The labeled tasks whose label people kept when an earlier round showed it to them (the round reports the
    backend keeps with the project, oldest first), as the round driver counts them."""
    current = {e.task_id: {"target": adapter.target_key(e.target), "annotation": e.annotation_id} for e in labeled}

    def readable(flag) -> bool:  # a row of another form (an older or foreign report) is passed over
        return isinstance(flag, dict) and {"task", "annotation", "label_quality"} <= flag.keys() \
            and ("label_key" in flag or "human" in flag)
    return set(confirmed_labels([[flag for flag in report.get("flagged_tasks") or [] if readable(flag)]
                                 for report in reports], current))


def fit_and_predict(adapter: TaskAdapter, settings: Settings, labeled: list, unlabeled: list,
                    progress: Progress, make_fold_runner=None, evaluation_ids: set | None = None,
                    confirmed_ids: set | None = None) -> dict:
    """Outputs for every labeled task (out of fold, or in sample) and, from the full model, every unlabeled
    one; the full model learns from all labeled tasks but the evaluation tasks, and is scored on them.
    A second out-of-fold pass leaves the suspect labels out of its training, but never a label people
    confirmed (`confirmed_ids`): they looked at it and kept it."""
    evaluation_ids = evaluation_ids or set()
    confirmed_ids = confirmed_ids or set()
    settings = settings.for_adapter(adapter, len(labeled))
    features = adapter.featurize([e.input for e in labeled + unlabeled], progress)
    labeled_features = take(features, list(range(len(labeled))))
    targets = [e.target for e in labeled]
    suspects = None
    training_rows = [i for i, e in enumerate(labeled) if e.task_id not in evaluation_ids]
    wants_folds = settings.prediction_source in ("out_of_fold", "blended")
    run_folds = make_fold_runner(labeled_features, targets) if make_fold_runner and wants_folds else None
    try:
        # fitted in a child process beside the folds where the runner fits elsewhere (backend.fit_processes)
        full_elsewhere = hasattr(run_folds, "start_full_model")
        if full_elsewhere:
            run_folds.start_full_model(training_rows)
        if wants_folds:
            strata = adapter.fold_strata(targets)
            outputs = repeated_out_of_fold_outputs(adapter.new_model, labeled_features, targets, settings.n_folds,
                                                   settings.n_repeats, adapter.average_outputs, settings.seed,
                                                   progress, strata=strata, run_folds=run_folds)
            if settings.second_pass:
                suspects = adapter.suspect_labels(targets, outputs) \
                    & ~np.array([e.task_id in confirmed_ids for e in labeled], dtype=bool)
                first_outputs = outputs
                outputs = outputs_without_suspects(adapter.new_model, labeled_features, targets, outputs,
                                                   suspects, settings.n_folds,
                                                   settings.n_repeats, adapter.average_outputs, settings.seed,
                                                   progress, strata=strata, run_folds=run_folds)
                if outputs is first_outputs:  # nothing suspect, or more than half: no second pass ran
                    suspects = None
        progress("full-data model", 0, 1)
        if full_elsewhere:
            model = run_folds.full_model(adapter, progress)
        else:
            model = adapter.new_model().fit(take(labeled_features, training_rows), [targets[i] for i in training_rows])
        progress("full-data model", 1, 1)
    finally:
        if run_folds is not None:
            run_folds.close()
    if settings.prediction_source == "in_sample":
        outputs = in_sample_outputs(model, labeled_features)  # (evaluation tasks: the model never saw them)
    elif settings.prediction_source == "blended":
        outputs = [adapter.blend_outputs(fold_output, full_output)
                   for fold_output, full_output in zip(outputs, in_sample_outputs(model, labeled_features))]
    # beside the out-of-fold outputs, for a round that ranks on both (relabel.rounds.scoring.mix_in_sample)
    own_outputs = in_sample_outputs(model, labeled_features) if settings.in_sample_outputs and labeled \
        else [None] * len(labeled)
    # Where similar items lie close (sentence embeddings): stored small, for the tab's order and for
    # carrying people's fixes to similar tasks (relabel.rounds.ordering).
    vectors = adapter.similarity_vectors(features)
    # A second signal beside the model: each labeled task's nearest labeled tasks vote on its label (the
    # round mixes it in with FlagOptions.neighbour_weight; computed only when a round asks for it).
    wants_votes = settings.neighbour_vote or adapter.default_neighbour_weight > 0
    votes = adapter.neighbour_vote(take(vectors, list(range(len(labeled)))), targets) \
        if wants_votes and vectors is not None and len(labeled) else None
    votes = [[round(float(p), 4) for p in row] for row in votes] if votes is not None else [None] * len(labeled)
    vectors = [[round(float(v), 4) for v in row] for row in reduce_dimensions(vectors)] \
        if vectors is not None and len(vectors) else [None] * (len(labeled) + len(unlabeled))
    evaluation_rows = [i for i, e in enumerate(labeled) if e.task_id in evaluation_ids]
    evaluation_outputs = list(model.predict(take(labeled_features, evaluation_rows))) if evaluation_rows else []
    unlabeled_outputs = model.predict(take(features, list(range(len(labeled), len(labeled) + len(unlabeled))))) \
        if unlabeled else []
    return {
        "model": model,
        "adapter": adapter.name,
        "prediction_source": settings.prediction_source,
        "n_folds": settings.n_folds if settings.prediction_source != "in_sample" else None,
        "n_repeats": settings.n_repeats if settings.prediction_source != "in_sample" else None,
        # how many labels the second pass left out of training (None: no second pass)
        "second_pass_suspects": int(suspects.sum()) if suspects is not None else None,
        "items": [{"task": e.task_id, "annotation": e.annotation_id, "annotator": e.annotator, "target": e.target,
                   "output": adapter.output_to_json(o), "prediction": adapter.to_prediction(o),
                   "split": "evaluation" if e.task_id in evaluation_ids else "training", "vector": vector,
                   **({"neighbour_vote": vote} if vote is not None else {}),
                   **({"in_sample_output": adapter.output_to_json(own)} if own is not None else {}),
                   **({"votes": [[who, target] for who, target in e.votes.items()]} if e.votes else {})}
                  for e, o, vector, vote, own in zip(labeled, outputs, vectors, votes, own_outputs)],
        "unlabeled": [{"task": e.task_id, "output": adapter.output_to_json(o), "prediction": adapter.to_prediction(o),
                       "vector": vector} for e, o, vector in zip(unlabeled, unlabeled_outputs, vectors[len(labeled):])],
        "evaluation_model": rounded(adapter.evaluate([targets[i] for i in evaluation_rows], evaluation_outputs))
        if evaluation_rows else None,
        # what of the human labels could not be used as given (e.g. spans cut through a word)
        "warnings": [{"task": e.task_id, "annotation": e.annotation_id, "note": note}
                     for e in labeled for note in e.notes],
    }
