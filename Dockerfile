# The Re-Label ML backend. Label Studio runs from its own image (see docker-compose.yml).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MODEL_DIR=/models

WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapters adapters
COPY backend backend
COPY scripts scripts
RUN pip install ".[text]"

VOLUME ["/models"]
EXPOSE 9090
CMD ["python", "-m", "backend", "--host", "0.0.0.0", "--port", "9090"]
