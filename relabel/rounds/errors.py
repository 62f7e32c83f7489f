"""The round driver's error."""
from __future__ import annotations


class RoundError(RuntimeError):
    """A round cannot go on; the message says why and what to do."""
