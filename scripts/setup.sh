#!/usr/bin/env bash
# Set up (or bring up to date) the two virtual environments, from PyPI only:
#   .venv     the Re-Label project with the extras named in $RELABEL_EXTRAS (default: text,test)
#   .venv-ls  Label Studio 1.23.2, kept apart so its pins never fight the ML stack's
# Both install from their lock of exact versions (constraints.txt, constraints-label-studio.txt): every
# machine, CI's too, gets the environment the tests ran with. Re-running is cheap: each environment is
# reinstalled only when what it installs changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${RELABEL_EXTRAS:-text,test}
LABEL_STUDIO_SPEC=${LABEL_STUDIO_SPEC:-label-studio==1.23.2}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python >= 3.10 is needed ($PYTHON)"; exit 1; }

stamp=".venv/.relabel-installed-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)-${EXTRAS//,/-}"
if [ ! -f "$stamp" ]; then
  echo "==> installing Re-Label [$EXTRAS] into .venv (first time: several minutes, torch is large)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$EXTRAS]" 2>&1 | { grep -v "^WARNING: Location" || true; }
  .venv/bin/python -c "import relabel.backend.app, relabel.adapters, relabel.rounds"
  rm -f .venv/.relabel-installed-*
  touch "$stamp"
fi

ls_stamp=".venv-ls/.installed-${LABEL_STUDIO_SPEC}-$(sha1sum < constraints-label-studio.txt | cut -c1-12)"
if [ ! -f "$ls_stamp" ]; then
  echo "==> installing $LABEL_STUDIO_SPEC into .venv-ls"
  [ -x .venv-ls/bin/python ] || "$PYTHON" -m venv .venv-ls
  .venv-ls/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-label-studio.txt "$LABEL_STUDIO_SPEC" 2>&1 | { grep -v "^WARNING: Location" || true; }
  .venv-ls/bin/python -c "import label_studio" && test -x .venv-ls/bin/label-studio
  rm -f .venv-ls/.installed-*
  touch "$ls_stamp"
fi
