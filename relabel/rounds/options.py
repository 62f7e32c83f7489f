"""What one round is asked to do: the plain options `run_round` takes (the CLI builds them from its arguments)."""
from __future__ import annotations

from dataclasses import dataclass, field

from relabel.adapters.noise.flags import FlagOptions
from relabel.rounds.ordering import TabOptions


@dataclass(frozen=True)
class RoundOptions:
    """One round on one Label Studio project.

    `label_studio_url`/`api_key` reach Label Studio; `backend_url` the Re-Label backend as this process
    reaches it, `backend_url_for_label_studio` as Label Studio does (docker-compose: http://backend:9090;
    None: the same) and `basic_auth` its credentials, if it requires them. `round`: the round to (re-)run
    (None: one past the last completed round). `folds`, `repeats` and `prediction_source` set how the
    backend predicts this project (None: the backend's default). `flags` decide which labels go back to
    humans; `per_class` adds one tab per class; `tab` orders the tab and carries earlier fixes to similar
    tasks (relabel.rounds.ordering); `human_eval` draws that many unlabeled tasks into a
    "Human evaluation round N" tab (later rounds score the model on people's labels of them);
    `media_hosts` (RELABEL_MEDIA_HOSTS): besides Label Studio's, hosts the HTML report's thumbnails may
    come from. Reports are exported to `rounds_dir`/round-N/ (the history stays with the project, in
    the backend). `dry_run` trains and
    reports without writing to Label Studio. `timeout` bounds the wait for training, `start_timeout` the
    wait for Label Studio to start it; `quiet` hides progress bars.
    """

    project: int
    label_studio_url: str = "http://127.0.0.1:8080"
    api_key: str = field(default="", repr=False)
    backend_url: str = "http://127.0.0.1:9090"
    backend_url_for_label_studio: str | None = None
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    round: int | None = None
    folds: int | None = None
    repeats: int | None = None
    prediction_source: str | None = None
    flags: FlagOptions = field(default_factory=FlagOptions)
    per_class: bool = False
    tab: TabOptions = field(default_factory=TabOptions)
    human_eval: int = 0
    media_hosts: tuple[str, ...] = ()
    rounds_dir: str = "rounds"
    dry_run: bool = False
    timeout: float = 6 * 3600
    start_timeout: float = 60.0
    poll_interval: float = 1.0
    quiet: bool = False
