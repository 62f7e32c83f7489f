"""Fine-tune mode through the real training job: Label Studio in, fine-tuned folds, stored model, /predict."""
from __future__ import annotations

import pytest

from relabel.backend.app import create_app
from relabel.backend.config import Settings
from relabel.clients.label_studio import LabelStudioClient
from relabel.backend.model_store import ModelStore
from relabel.backend.training import train_project
from tests.helpers import all_tasks, annotation_snapshot, create_noisy_project

pytestmark = pytest.mark.integration


def test_finetune_mode_trains_stores_and_serves(label_studio, tmp_path):
    project_id, rows = create_noisy_project(label_studio, "fine-tune", n_items=24, noise_rate=0.1, seed=21)
    before = annotation_snapshot(all_tasks(label_studio, project_id))
    settings = Settings(label_studio_url=label_studio.url, label_studio_api_key=label_studio.token,
                        model_dir=str(tmp_path), n_folds=3, text_mode="finetune", finetune_epochs=1)
    stages = []
    result = train_project(project_id, settings, LabelStudioClient(label_studio.url, label_studio.token),
                           ModelStore(str(tmp_path)), progress=lambda stage, done, total: stages.append(stage))
    assert result["labeled"] == 24 and result["predictions_written"] == 24
    assert "out-of-fold training" in stages and "embedding texts" not in stages
    stored = ModelStore(str(tmp_path)).predictions(project_id, result["model_version"])
    assert len(stored["items"]) == 24 and stored["n_folds"] == 3

    client = create_app(settings).test_client()
    answer = client.post("/predict", json={"project": f"{project_id}.1", "tasks": [
        {"id": 1, "data": {"text": rows[next(iter(rows))]["text"]}}]}).get_json()
    assert answer["model_version"] == result["model_version"] and len(answer["results"]) == 1
    assert answer["results"][0]["result"][0]["value"]["choices"][0] in {"sports", "weather", "food", "technology"}
    assert annotation_snapshot(all_tasks(label_studio, project_id)) == before
