#!/usr/bin/env python3
"""The bundled demo (relabel.demo): `python scripts/demo.py` runs the next round, `--stop` stops the services.

Its data lives in this checkout's .demo/, and Label Studio runs from the checkout's .venv-ls
(both made by scripts/setup.sh, which scripts/demo.sh runs first).
"""
import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent

try:
    from relabel.demo.run import main
except ImportError as error:  # run with a Python that has not installed the project
    sys.exit(f"demo: {error}; run bash scripts/demo.sh (it sets up .venv first)")

if __name__ == "__main__":
    os.environ.setdefault("LABEL_STUDIO_BIN", str(CHECKOUT / ".venv-ls" / "bin" / "label-studio"))
    sys.exit(main(demo_dir=CHECKOUT / ".demo"))
