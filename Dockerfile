# The Re-Label ML backend. Label Studio runs from its own image (see docker-compose.yml).
FROM python:3.11-slim

# OMP_WAIT_POLICY: torch's waiting threads sleep instead of spinning on cores the backend and the training
# worker share (relabel/stack.py OPENMP_WAIT; benchmarks/RESULTS.md 33).
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    MODEL_DIR=/models

# OpenCV (an ultralytics dependency) needs libGL and GLib even without a screen.
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY relabel relabel
COPY adapters adapters
COPY backend backend
# the exact versions the tests ran with
RUN pip install -c constraints.txt ".[text,image]"

VOLUME ["/models"]
EXPOSE 9090
CMD ["python", "-m", "relabel.backend", "--host", "0.0.0.0", "--port", "9090"]
