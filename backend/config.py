"""Backend configuration, read from environment variables (the label-studio-ml-backend way).

| variable | meaning | default |
|---|---|---|
| LABEL_STUDIO_URL | where the backend reads tasks and writes predictions | http://127.0.0.1:8080 |
| LABEL_STUDIO_API_KEY | legacy token or personal access token of a Label Studio user | (none) |
| MODEL_DIR | model store, one folder per project | ./models |
| BASIC_AUTH_USER / BASIC_AUTH_PASS | require HTTP basic auth on every endpoint but /health | off |
| RELABEL_FOLDS | K of the K-fold out-of-fold predictions | the task type's: 5, object detection 3 |
| RELABEL_REPEATS | K-fold splits (seeds) whose out-of-fold predictions are averaged | 1 |
| RELABEL_PREDICTION_SOURCE | out_of_fold, or in_sample (the paper's original rule) | out_of_fold |
| RELABEL_SEED | seed of folds and models | 0 |
| RELABEL_TEXT_MODE | ensemble (frozen encoder + TF-IDF, linear heads), embedding, finetune, finetune_ensemble | ensemble |
| RELABEL_TEXT_ENCODER | Hugging Face model name or local path | the packaged all-MiniLM-L6-v2 |
| RELABEL_FINETUNE_EPOCHS | epochs per fold in the finetune modes (few: more epochs memorise more noise) | 2 |
| RELABEL_NER_EPOCHS | epochs per fold of the NER token classifier (fine-tuned; at least 100 steps on small projects) | 3 |
| RELABEL_IMAGE_MODEL | image classifier: an ultralytics .pt file (e.g. your yolo11n-cls.pt) or model yaml (trained from scratch) | yolo11n-cls.yaml |
| RELABEL_IMAGE_EPOCHS | epochs per fold of the image classifier (from a yaml, at least 150 steps) | 20 |
| RELABEL_IMAGE_SIZE | side in pixels images are resized to for the image classifier | 128 |
| RELABEL_DETECTION_MODEL | detector: an ultralytics .pt file (e.g. your yolo11n.pt) or model yaml (trained from scratch) | yolo11n.yaml |
| RELABEL_DETECTION_EPOCHS | epochs per fold of the detector (from a yaml, at least 300 steps) | 50 |
| RELABEL_DETECTION_SIZE | side in pixels images are resized to for the detector | 640 |
| RELABEL_GENERATION_MODEL | text generation: a Hugging Face seq2seq model name or local path (fine-tuned); empty: a small BART with a byte tokenizer, trained from scratch (offline) | (empty) |
| RELABEL_GENERATION_EPOCHS | epochs per fold of the text-generation model (small projects: a minimum number of steps) | 10 |
| RELABEL_CTR_FEATURES | clicks: comma-separated task data fields the click model reads | the fields the labeling config shows |
| RELABEL_CTR_LABEL_FIELD | clicks: a task data field holding 0/1, the label of rows nobody annotated (imported click logs) | (none) |
| RELABEL_CTR_CATEGORICAL_FIELDS | clicks: comma-separated fields always treated as categories (numeric ids such as userId) | (none) |
| RELABEL_CTR_EPOCHS | epochs per fold of the click model (small projects: at least 150 steps) | 10 |
| RELABEL_DEVICE | auto, cpu, cuda, cuda:1 ... | auto |
| RELABEL_MAX_BODY_MB | largest request body accepted | 64 |
| RELABEL_CHECK_WAIT | seconds /webhook waits for the job to check the tasks, to answer their errors | 20 |
| REDIS_URL | run training jobs on this Redis's RQ queue, taken by `python -m backend.worker` processes sharing MODEL_DIR; empty: in the backend process | (empty) |
| RELABEL_WEB_WORKERS | backend (gunicorn) worker processes; more than 1 needs REDIS_URL | 1, with REDIS_URL 2 |
| RELABEL_FOLD_JOBS | with REDIS_URL: 1 puts each of a job's K folds on the queue too, for any worker to fit; 0 fits them in the job's worker | 1 |
| RELABEL_JOB_TIMEOUT | seconds a queued training job may run before RQ stops it | 21600 |
| RELABEL_JOB_HEARTBEAT_TIMEOUT | seconds without a heartbeat after which a queued job's worker is taken for dead and the job failed | 60 |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from relabel.adapters import TaskAdapter, adapter_for_config
from relabel.adapters.data.folds import PREDICTION_SOURCES


def _int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be a whole number, got {raw!r}") from None


def _names(text: str) -> list[str]:
    """Comma-separated names as a list."""
    return [name.strip() for name in text.split(",") if name.strip()]


#: settings a project may choose for itself, per round (PUT /projects/<id>/settings), and their types
PROJECT_SETTINGS = {"n_folds": int, "n_repeats": int, "prediction_source": str, "seed": int,
                    # task types whose flagged rows are dropped (clicks): rows flagged in rounds before this one
                    # are left out of training (see relabel.backend.training.rows_left_in)
                    "drop_flagged_before_round": int}


@dataclass(frozen=True)
class Settings:
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_api_key: str = field(default="", repr=False)
    model_dir: str = "models"
    basic_auth_user: str = ""
    basic_auth_pass: str = field(default="", repr=False)
    n_folds: int | None = None  # None: the adapter's default_folds
    n_repeats: int = 1
    prediction_source: str = "out_of_fold"
    seed: int = 0
    text_mode: str = "ensemble"
    text_encoder: str = ""
    finetune_epochs: int = 2
    ner_epochs: int = 3
    detection_model: str = "yolo11n.yaml"
    detection_epochs: int = 50
    detection_size: int = 640
    image_model: str = "yolo11n-cls.yaml"
    image_epochs: int = 20
    image_size: int = 128
    generation_model: str = ""
    generation_epochs: int = 10
    ctr_features: str = ""
    ctr_label_field: str = ""
    ctr_categorical_fields: str = ""
    ctr_epochs: int = 10
    drop_flagged_before_round: int | None = None
    device: str = "auto"
    max_body_mb: int = 64
    check_wait: float = 20.0
    redis_url: str = ""
    job_timeout: int = 6 * 3600
    fold_jobs: bool = True
    job_heartbeat_timeout: float = 60.0

    def __post_init__(self):
        if self.prediction_source not in PREDICTION_SOURCES:
            raise ValueError(f"RELABEL_PREDICTION_SOURCE must be one of {PREDICTION_SOURCES}, "
                             f"got {self.prediction_source!r}")
        if self.n_folds is not None and self.n_folds < 2:
            raise ValueError(f"RELABEL_FOLDS must be at least 2, got {self.n_folds}")
        if self.n_repeats < 1:
            raise ValueError(f"RELABEL_REPEATS must be at least 1, got {self.n_repeats}")

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ.get
        return cls(
            label_studio_url=env("LABEL_STUDIO_URL", cls.label_studio_url).rstrip("/"),
            label_studio_api_key=env("LABEL_STUDIO_API_KEY", ""),
            model_dir=env("MODEL_DIR", cls.model_dir),
            basic_auth_user=env("BASIC_AUTH_USER", ""),
            basic_auth_pass=env("BASIC_AUTH_PASS", ""),
            n_folds=_int("RELABEL_FOLDS", cls.n_folds),
            n_repeats=_int("RELABEL_REPEATS", cls.n_repeats),
            prediction_source=env("RELABEL_PREDICTION_SOURCE", cls.prediction_source),
            seed=_int("RELABEL_SEED", cls.seed),
            text_mode=env("RELABEL_TEXT_MODE", cls.text_mode),
            text_encoder=env("RELABEL_TEXT_ENCODER", ""),
            finetune_epochs=_int("RELABEL_FINETUNE_EPOCHS", cls.finetune_epochs),
            ner_epochs=_int("RELABEL_NER_EPOCHS", cls.ner_epochs),
            image_model=env("RELABEL_IMAGE_MODEL", cls.image_model),
            image_epochs=_int("RELABEL_IMAGE_EPOCHS", cls.image_epochs),
            image_size=_int("RELABEL_IMAGE_SIZE", cls.image_size),
            detection_model=env("RELABEL_DETECTION_MODEL", cls.detection_model),
            detection_epochs=_int("RELABEL_DETECTION_EPOCHS", cls.detection_epochs),
            detection_size=_int("RELABEL_DETECTION_SIZE", cls.detection_size),
            generation_model=env("RELABEL_GENERATION_MODEL", cls.generation_model),
            generation_epochs=_int("RELABEL_GENERATION_EPOCHS", cls.generation_epochs),
            ctr_features=env("RELABEL_CTR_FEATURES", cls.ctr_features),
            ctr_label_field=env("RELABEL_CTR_LABEL_FIELD", cls.ctr_label_field),
            ctr_categorical_fields=env("RELABEL_CTR_CATEGORICAL_FIELDS", cls.ctr_categorical_fields),
            ctr_epochs=_int("RELABEL_CTR_EPOCHS", cls.ctr_epochs),
            device=env("RELABEL_DEVICE", cls.device),
            max_body_mb=_int("RELABEL_MAX_BODY_MB", cls.max_body_mb),
            check_wait=_int("RELABEL_CHECK_WAIT", int(cls.check_wait)),
            redis_url=env("REDIS_URL", cls.redis_url),
            job_timeout=_int("RELABEL_JOB_TIMEOUT", cls.job_timeout),
            fold_jobs=env("RELABEL_FOLD_JOBS", "1").strip().lower() not in ("0", "false", "no", "off"),
            job_heartbeat_timeout=_int("RELABEL_JOB_HEARTBEAT_TIMEOUT", int(cls.job_heartbeat_timeout)),
        )

    def with_overrides(self, overrides: dict) -> "Settings":
        """These settings with a project's own detection settings (see PROJECT_SETTINGS) in place."""
        unknown = set(overrides) - set(PROJECT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown project setting(s) {sorted(unknown)}; known: {list(PROJECT_SETTINGS)}")
        overrides = {name: value for name, value in overrides.items() if value is not None}
        for name, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, PROJECT_SETTINGS[name]):
                raise ValueError(f"project setting {name!r} must be a {PROJECT_SETTINGS[name].__name__}, got {value!r}")
        return replace(self, **overrides)

    def adapter_options(self) -> dict[str, dict]:
        """The backend's model options per task type (`relabel.adapters.adapter_for_config` takes them)."""
        text_encoder = self.text_encoder or None
        return {
            "text-classification": {"mode": self.text_mode, "encoder": text_encoder, "epochs": self.finetune_epochs,
                                    "seed": self.seed},
            "ner": {"encoder": text_encoder, "epochs": self.ner_epochs, "seed": self.seed},
            "image-classification": {"image_model": self.image_model, "epochs": self.image_epochs,
                                     "image_size": self.image_size, "seed": self.seed},
            "object-detection": {"detection_model": self.detection_model, "epochs": self.detection_epochs,
                                 "image_size": self.detection_size, "seed": self.seed},
            "text-generation": {"generation_model": self.generation_model, "epochs": self.generation_epochs,
                                "seed": self.seed},
            "ctr": {"features": _names(self.ctr_features) or None, "label_field": self.ctr_label_field or None,
                    "categorical_fields": _names(self.ctr_categorical_fields), "epochs": self.ctr_epochs,
                    "seed": self.seed},
        }

    def build_adapter(self, label_config: str, fetch_media=None) -> TaskAdapter:
        """The adapter for a labeling config, with these settings' model options and device."""
        return adapter_for_config(label_config, self.adapter_options(), device=self.device, fetch_media=fetch_media)

    def for_adapter(self, adapter) -> "Settings":
        """These settings with the adapter's own defaults where they leave a choice open (K of K-fold)."""
        return self if self.n_folds is not None else replace(self, n_folds=adapter.default_folds)

    @property
    def media_cache_dir(self) -> str:
        """Where images downloaded from Label Studio are kept, so each is fetched once."""
        return os.path.join(self.model_dir, "media-cache")
