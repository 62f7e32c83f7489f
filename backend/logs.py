"""Structured logs: one JSON object per line. Secrets never reach a log line.

Redacted wherever they appear: the configured secret values (API key, basic-auth password, Redis
password, tokens Label Studio sent in /setup), anything that looks like `token=...` or
`"password": "..."`, Authorization header values (`Token X`, `Bearer X`, `Basic X`) and the credentials
of URLs (`redis://:password@host`).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_SECRET = re.compile(r"(?i)((?:token|api[_-]?key|password|pass|authorization|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")
_AUTHORIZATION_VALUE = re.compile(r"\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@")
#: configured secret values, redacted wherever they appear (set by configure_logging and add_secret)
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Redact `value` from every log line from now on (values shorter than 4 characters are no secrets)."""
    if value and len(value) >= 4:
        _secrets.add(value)
        _secrets.add(json.dumps(value)[1:-1])  # as it stands inside a JSON log line


def redact(text: str) -> str:
    """Blank the configured secrets, and anything that looks like `token=...`, `"password": "..."`,
    an Authorization value or a URL's credentials."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _AUTHORIZATION_VALUE.sub(r"\1 ***", text)
    return _SECRET.sub(r"\1***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                 "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def configure_logging(level: str | None = None, secrets: tuple[str, ...] | list[str] = ()) -> None:
    for secret in secrets:
        add_secret(secret)
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    for noisy in ("httpx", "httpcore", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
