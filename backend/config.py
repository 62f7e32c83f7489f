"""Backend configuration, read from environment variables (the label-studio-ml-backend way).

| variable | meaning | default |
|---|---|---|
| LABEL_STUDIO_URL | where the backend reads tasks and writes predictions | http://127.0.0.1:8080 |
| LABEL_STUDIO_API_KEY | legacy token or personal access token of a Label Studio user | (none) |
| MODEL_DIR | model store, one folder per project | ./models |
| BASIC_AUTH_USER / BASIC_AUTH_PASS | require HTTP basic auth on every endpoint but /health; set both or neither | off |
| RELABEL_ALLOW_UNAUTHENTICATED | 1: serve on a non-loopback address without basic auth (otherwise refused at start) | 0 |
| RELABEL_MEDIA_HOSTS | comma-separated hosts (host or host:port) besides Label Studio's own from which task images may be downloaded (e.g. a bucket's host) | (none) |
| RELABEL_MEDIA_MAX_MB | largest image file downloaded | 50 |
| RELABEL_MEDIA_TIMEOUT | seconds a whole image download (all redirects) may take | 60 |
| RELABEL_MEDIA_REDIRECTS | redirects an image download may follow (each hop checked) | 3 |
| RELABEL_MAX_PREDICT_TASKS | tasks one /predict request may hold | 5000 |
| RELABEL_MAX_LOADED_MODELS | models kept loaded for /predict (least recently used ones are unloaded) | 8 |
| RELABEL_EVAL_FIELD / RELABEL_EVAL_VALUES | tasks whose data field holds one of these values are evaluation tasks | split / dev,test,validation,eval |
| RELABEL_EVAL_SHARE | where no task is marked: the seeded share of tasks held out for evaluation (0: none) | 0.15 |
| RELABEL_FOLDS | K of the K-fold out-of-fold predictions | the task type's: 5, object detection 3 |
| RELABEL_REPEATS | K-fold splits (seeds) whose out-of-fold predictions are averaged | 1 |
| RELABEL_PREDICTION_SOURCE | out_of_fold, in_sample (the paper's original rule), or blended (the two averaged) | the task type's: out_of_fold; NER blended from about 530 labeled sentences (below, out_of_fold) |
| RELABEL_SEED | seed of folds and models | 0 |
| RELABEL_TEXT_MODE | auto, ensemble (frozen encoder + TF-IDF, linear heads), embedding, finetune, finetune_ensemble | auto: finetune_ensemble where RELABEL_DEVICE is (or finds) a GPU, ensemble on a CPU |
| RELABEL_TEXT_ENCODER | Hugging Face model name or local path | the packaged all-MiniLM-L6-v2 |
| RELABEL_FINETUNE_EPOCHS | epochs per fold in the finetune modes (few: more epochs memorise more noise) | 2 |
| RELABEL_NER_EPOCHS | epochs per fold of the NER token classifier (fine-tuned; at least 100 steps on small projects) | 3 |
| RELABEL_IMAGE_MODEL | image classifier (single choices and tags on images): an ultralytics .pt file (e.g. your yolo11n-cls.pt) or model yaml (trained from scratch) | yolo11n-cls.yaml |
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
| REDIS_URL | run training jobs on this Redis's RQ queue, taken by `python -m relabel.backend.worker` processes sharing MODEL_DIR; empty: in the backend process | (empty) |
| RELABEL_WEB_WORKERS | backend (gunicorn) worker processes; more than 1 needs REDIS_URL | 1, with REDIS_URL 2 |
| RELABEL_FOLD_JOBS | with REDIS_URL: 1 puts each of a job's K folds on the queue too, for any worker to fit; 0 fits them in the job's worker | 1 |
| RELABEL_FIT_PROCESSES | child processes fitting a training's folds and full-data model side by side where the folds are fitted in the job's own process; 1: none, in turn | 0: on the CPU, one per CPU (up to K + 1) for text generation, and images and detection where a fit takes at least 150 steps; else 1 |
| RELABEL_JOB_TIMEOUT | seconds a training job may run before it is stopped (queued: RQ stops it; embedded: it stops at its next step) | 21600 |
| RELABEL_JOB_HEARTBEAT_TIMEOUT | seconds without a heartbeat after which a queued job's worker is taken for dead and the job failed | 60 |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from urllib.parse import urlsplit

from relabel.adapters import TaskAdapter, adapter_for_config
from relabel.adapters.data.folds import PREDICTION_SOURCES
from relabel.clients.label_studio import LabelStudioClient
from relabel.clients.media import MediaPolicy

#: each setting's environment variable
ENVIRONMENT = {
    "label_studio_url": "LABEL_STUDIO_URL", "label_studio_api_key": "LABEL_STUDIO_API_KEY", "model_dir": "MODEL_DIR",
    "basic_auth_user": "BASIC_AUTH_USER", "basic_auth_pass": "BASIC_AUTH_PASS",
    "allow_unauthenticated": "RELABEL_ALLOW_UNAUTHENTICATED",
    "n_folds": "RELABEL_FOLDS", "n_repeats": "RELABEL_REPEATS", "prediction_source": "RELABEL_PREDICTION_SOURCE",
    "second_pass": "RELABEL_SECOND_PASS",
    "seed": "RELABEL_SEED", "text_mode": "RELABEL_TEXT_MODE", "text_encoder": "RELABEL_TEXT_ENCODER",
    "finetune_epochs": "RELABEL_FINETUNE_EPOCHS", "ner_epochs": "RELABEL_NER_EPOCHS",
    "detection_model": "RELABEL_DETECTION_MODEL", "detection_epochs": "RELABEL_DETECTION_EPOCHS",
    "detection_size": "RELABEL_DETECTION_SIZE", "image_model": "RELABEL_IMAGE_MODEL",
    "image_epochs": "RELABEL_IMAGE_EPOCHS", "image_size": "RELABEL_IMAGE_SIZE",
    "generation_model": "RELABEL_GENERATION_MODEL", "generation_epochs": "RELABEL_GENERATION_EPOCHS",
    "ctr_features": "RELABEL_CTR_FEATURES", "ctr_label_field": "RELABEL_CTR_LABEL_FIELD",
    "ctr_categorical_fields": "RELABEL_CTR_CATEGORICAL_FIELDS", "ctr_epochs": "RELABEL_CTR_EPOCHS",
    "device": "RELABEL_DEVICE", "max_body_mb": "RELABEL_MAX_BODY_MB", "check_wait": "RELABEL_CHECK_WAIT",
    "redis_url": "REDIS_URL", "job_timeout": "RELABEL_JOB_TIMEOUT", "fold_jobs": "RELABEL_FOLD_JOBS",
    "fit_processes": "RELABEL_FIT_PROCESSES",
    "job_heartbeat_timeout": "RELABEL_JOB_HEARTBEAT_TIMEOUT", "media_hosts": "RELABEL_MEDIA_HOSTS",
    "media_max_mb": "RELABEL_MEDIA_MAX_MB", "media_timeout": "RELABEL_MEDIA_TIMEOUT",
    "media_redirects": "RELABEL_MEDIA_REDIRECTS", "max_predict_tasks": "RELABEL_MAX_PREDICT_TASKS",
    "max_loaded_models": "RELABEL_MAX_LOADED_MODELS", "eval_field": "RELABEL_EVAL_FIELD",
    "eval_values": "RELABEL_EVAL_VALUES", "eval_share": "RELABEL_EVAL_SHARE",
}

#: (lowest, highest) of each number a setting holds: no setting may ask for unbounded work
BOUNDS = {
    "n_folds": (2, 20), "n_repeats": (1, 10), "seed": (0, 2 ** 32 - 1), "finetune_epochs": (1, 100),
    "ner_epochs": (1, 100), "detection_epochs": (1, 1000), "detection_size": (32, 2048), "image_epochs": (1, 1000),
    "image_size": (16, 1024), "generation_epochs": (1, 1000), "ctr_epochs": (1, 1000),
    "drop_flagged_before_round": (1, 1_000_000), "max_body_mb": (1, 1024), "check_wait": (0, 90),
    "job_timeout": (60, 7 * 24 * 3600), "job_heartbeat_timeout": (5, 3600), "media_max_mb": (1, 1024),
    "media_timeout": (1, 600), "media_redirects": (0, 10), "max_predict_tasks": (1, 100_000),
    "max_loaded_models": (1, 256), "eval_share": (0.0, 0.5), "fit_processes": (0, 64),
}

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _names(text: str) -> list[str]:
    """Comma-separated names as a list."""
    return [name.strip() for name in text.split(",") if name.strip()]


#: settings a project may choose for itself, per round (PUT /projects/<id>/settings), and their types
PROJECT_SETTINGS = {"n_folds": int, "n_repeats": int, "prediction_source": str, "seed": int,
                    # task types whose flagged rows are dropped (clicks): rows flagged in rounds before this one
                    # are left out of training (see relabel.backend.training.rows_left_in)
                    "drop_flagged_before_round": int,
                    # store each labeled task's neighbour vote (FlagOptions.neighbour_weight): n x n
                    # similarities, minutes at 100,000 tasks, so only for a round that mixes it in
                    "neighbour_vote": bool,
                    # store each labeled task's output from the full-data model too, in sample
                    # (FlagOptions.in_sample_weight; None: where the task type mixes them by default)
                    "in_sample_outputs": bool,
                    # average the out-of-fold outputs with fold models that never learned the suspect labels
                    # (None: the task type's default, TaskAdapter.second_pass_for)
                    "second_pass": bool}

#: on/off settings whose default is None (the task type decides)
OPTIONAL_SWITCHES = ("second_pass",)


def _parse(name: str, raw: str, default):
    """An environment variable's text as the setting's type (that of its default; None: a whole number)."""
    variable = ENVIRONMENT[name]
    if isinstance(default, bool) or name in OPTIONAL_SWITCHES:
        if raw.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(f"environment variable {variable} must be 1 or 0 (true or false), got {raw!r}")
        return raw.strip().lower() in TRUE_WORDS
    if isinstance(default, str):
        return raw
    try:
        return float(raw) if isinstance(default, float) else int(raw)
    except ValueError:
        raise ValueError(f"environment variable {variable} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_api_key: str = field(default="", repr=False)
    model_dir: str = "models"
    basic_auth_user: str = ""
    basic_auth_pass: str = field(default="", repr=False)
    allow_unauthenticated: bool = False
    n_folds: int | None = None  # None: the adapter's default_folds
    n_repeats: int = 1
    prediction_source: str | None = None  # None: the adapter's default_prediction_source
    second_pass: bool | None = None  # None: the adapter's second_pass_for(number of labeled tasks)
    seed: int = 0
    text_mode: str = "auto"
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
    neighbour_vote: bool = False
    in_sample_outputs: bool | None = None  # None: where the adapter's in_sample_weight_for(n) is above 0
    device: str = "auto"
    max_body_mb: int = 64
    check_wait: float = 20.0
    redis_url: str = field(default="", repr=False)
    job_timeout: int = 6 * 3600
    fold_jobs: bool = True
    fit_processes: int = 0  # 0: backend.fit_processes.fit_processes_for decides
    job_heartbeat_timeout: float = 60.0
    media_hosts: str = ""
    media_max_mb: int = 50
    media_timeout: float = 60.0
    media_redirects: int = 3
    max_predict_tasks: int = 5000
    max_loaded_models: int = 8
    eval_field: str = "split"
    eval_values: str = "dev,test,validation,eval"
    eval_share: float = 0.15

    def __post_init__(self):
        if self.prediction_source is not None and self.prediction_source not in PREDICTION_SOURCES:
            raise ValueError(f"RELABEL_PREDICTION_SOURCE must be one of {PREDICTION_SOURCES}, "
                             f"got {self.prediction_source!r}")
        for name, (lowest, highest) in BOUNDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lowest <= value <= highest:
                where = ENVIRONMENT.get(name, "a project setting")
                raise ValueError(f"{name} ({where}) must be a number at least {lowest} and at most {highest}, "
                                 f"got {value!r}")
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            raise ValueError("BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together, neither of them empty "
                             "(both unset: no basic auth)")
        for host in self.allowed_media_hosts:
            if "/" in host or "@" in host or not host.strip("[]:."):
                raise ValueError(f"RELABEL_MEDIA_HOSTS names hosts (host or host:port), got {host!r}")

    @classmethod
    def from_env(cls) -> "Settings":
        values = {}
        for spec in fields(cls):
            if spec.name not in ENVIRONMENT:  # a project's own setting (PROJECT_SETTINGS) only
                continue
            raw = os.environ.get(ENVIRONMENT[spec.name], "")
            if raw != "":
                values[spec.name] = _parse(spec.name, raw, spec.default)
        if "label_studio_url" in values:
            values["label_studio_url"] = values["label_studio_url"].rstrip("/")
        return cls(**values)

    def with_overrides(self, overrides: dict) -> "Settings":
        """These settings with a project's own detection settings (see PROJECT_SETTINGS) in place."""
        unknown = set(overrides) - set(PROJECT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown project setting(s) {sorted(unknown)}; known: {list(PROJECT_SETTINGS)}")
        overrides = {name: value for name, value in overrides.items() if value is not None}
        for name, value in overrides.items():
            if isinstance(value, bool) != (PROJECT_SETTINGS[name] is bool) or not isinstance(value, PROJECT_SETTINGS[name]):
                raise ValueError(f"project setting {name!r} must be a {PROJECT_SETTINGS[name].__name__}, got {value!r}")
        return replace(self, **overrides)

    @property
    def evaluation(self) -> dict:
        """How evaluation tasks are chosen (adapters.data.evaluation): part of what a model learns from."""
        return {"field": self.eval_field, "values": _names(self.eval_values), "share": self.eval_share}

    @property
    def allowed_media_hosts(self) -> list[str]:
        """RELABEL_MEDIA_HOSTS as a list, lowercased."""
        return [host.lower() for host in _names(self.media_hosts)]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        return (self.basic_auth_user, self.basic_auth_pass) if self.basic_auth_user else None

    def secrets(self) -> list[str]:
        """The configured secret values, which no log line or answer may show."""
        redis_password = urlsplit(self.redis_url).password if self.redis_url else None
        return [value for value in (self.label_studio_api_key, self.basic_auth_pass, redis_password) if value]

    def adapter_options(self) -> dict[str, dict]:
        """The backend's model options per task type (`relabel.adapters.adapter_for_config` takes them)."""
        text_encoder = self.text_encoder or None
        return {
            "text-classification": {"mode": self.text_mode, "encoder": text_encoder, "epochs": self.finetune_epochs,
                                    "seed": self.seed},
            "multi-label-text": {"encoder": text_encoder, "seed": self.seed},
            "text-regression": {"encoder": text_encoder, "seed": self.seed},
            "ner": {"encoder": text_encoder, "epochs": self.ner_epochs, "seed": self.seed},
            "image-classification": {"image_model": self.image_model, "epochs": self.image_epochs,
                                     "image_size": self.image_size, "seed": self.seed},
            # tags on images use the image classifier (over tag sets), so its settings
            "multi-label-image": {"image_model": self.image_model, "epochs": self.image_epochs,
                                  "image_size": self.image_size, "seed": self.seed},
            "object-detection": {"detection_model": self.detection_model, "epochs": self.detection_epochs,
                                 "image_size": self.detection_size, "seed": self.seed},
            "text-generation": {"generation_model": self.generation_model, "epochs": self.generation_epochs,
                                "seed": self.seed},
            "ctr": {"features": _names(self.ctr_features) or None, "label_field": self.ctr_label_field or None,
                    "categorical_fields": _names(self.ctr_categorical_fields), "epochs": self.ctr_epochs,
                    "seed": self.seed},
        }

    def build_adapter(self, label_config: str, fetch_media=None, feature_cache_dir: str | None = None) -> TaskAdapter:
        """The adapter for a labeling config, with these settings' model options and device."""
        return adapter_for_config(label_config, self.adapter_options(), device=self.device, fetch_media=fetch_media,
                                  feature_cache_dir=feature_cache_dir)

    def for_adapter(self, adapter, n_labeled: int | None = None) -> "Settings":
        """These settings with the adapter's own defaults where they leave a choice open: K of K-fold, and,
        once the number of labeled tasks is known, where their outputs come from, whether a second pass
        without the suspect labels follows the first, and whether the full-data model's in-sample outputs
        are kept beside the out-of-fold ones (only an out-of-fold source has two to mix)."""
        source, second_pass, in_sample = self.prediction_source, self.second_pass, self.in_sample_outputs
        if source is None and n_labeled is not None:
            source = adapter.prediction_source_for(n_labeled)
        if second_pass is None and n_labeled is not None:
            second_pass = adapter.second_pass_for(n_labeled)
        if n_labeled is not None:
            mixable = source == "out_of_fold" and adapter.in_sample_weight_for(n_labeled) is not None
            in_sample = mixable and (in_sample if in_sample is not None
                                     else bool(adapter.in_sample_weight_for(n_labeled)))
        return replace(self, n_folds=adapter.default_folds if self.n_folds is None else self.n_folds,
                       prediction_source=source, second_pass=second_pass, in_sample_outputs=in_sample)

    def feature_cache_dir(self, project_id: int) -> str:
        """Where a project's text embeddings are kept between trainings, so unchanged texts are embedded once."""
        return os.path.join(self.model_dir, "feature-cache", f"project-{int(project_id)}")

    def media_cache_dir(self, project_id: int) -> str:
        """Where a project's downloaded images are kept, so each is fetched once."""
        return os.path.join(self.model_dir, "media-cache", f"project-{int(project_id)}")

    def media_policy(self) -> MediaPolicy:
        """Where task images may be downloaded from (relabel.clients.media), and how much of them."""
        return MediaPolicy(self.label_studio_url, tuple(self.allowed_media_hosts), self.media_max_mb * 1024 * 1024,
                           self.media_timeout, self.media_redirects)

    def label_studio_client(self, api_key: str | None = None) -> LabelStudioClient:
        """A client of the configured Label Studio, with the configured key (or `api_key`, e.g. /setup's)."""
        return LabelStudioClient(self.label_studio_url, api_key or self.label_studio_api_key,
                                 media_policy=self.media_policy())
