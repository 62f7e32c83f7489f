"""Re-Label: a Label Studio ML backend that finds noisily labeled tasks and routes them back to humans,
round after round.

- `relabel.adapters` (the folder adapters/): task types, their models and the pure label-noise functions;
- `relabel.backend` (backend/): the HTTP server Label Studio calls, training jobs, the model store;
- `relabel.clients`: the Label Studio client and the backend's own HTTP client, for both sides;
- `relabel.rounds`: the round driver as a library (`run_round`), behind `scripts/sync_round.py`;
- `relabel.stack` and `relabel.demo`: the local services (as docker-compose runs them) and the demo.
"""

__version__ = "0.1.0"
