"""The house's shape: one import namespace (`relabel`), installed alone; no generic top-level names, no sys.path edits."""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERIC_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:adapters|backend|scripts)\b", re.M)
SYS_PATH_EDIT = re.compile(r"sys\.path\.(?:insert|append|extend)|sys\.path\s*=")


def tracked_python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [REPO_ROOT / name for name in listed if (REPO_ROOT / name).exists()]


def test_the_wheel_adds_no_top_level_name_but_relabel(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(REPO_ROOT)], check=True, capture_output=True, timeout=300)
    wheel = zipfile.ZipFile(next(tmp_path.glob("relabel-*.whl")))
    names = wheel.namelist()
    assert {name.split("/")[0] for name in names} == {"relabel", next(n for n in names if ".dist-info/" in n)
                                                      .split("/")[0]}
    # the folders keep their roles at the top of the repository and land under relabel/
    for module in ("relabel/adapters/tasks/ner.py", "relabel/adapters/noise/flags.py", "relabel/backend/app.py",
                   "relabel/rounds/cli.py", "relabel/clients/label_studio.py"):
        assert module in names
    assert not [name for name in names if name.startswith(("relabel/tests/", "relabel/scripts/"))]
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "relabel-sync-round = relabel.rounds.cli:main" in entry_points


def test_nothing_outside_tests_imports_a_generic_name_or_edits_sys_path():
    offenders = []
    for path in tracked_python_files():
        relative = path.relative_to(REPO_ROOT)
        if relative.parts[0] == "tests":
            continue
        text = path.read_text()
        if GENERIC_IMPORT.search(text) or SYS_PATH_EDIT.search(text):
            offenders.append(str(relative))
    assert offenders == []
    assert GENERIC_IMPORT.search("from adapters.base import X") and SYS_PATH_EDIT.search("sys.path.insert(0, x)")


def test_the_round_driver_script_runs_from_anywhere(tmp_path):
    """scripts/sync_round.py is a thin entry point over the installed library: it works from another folder."""
    answer = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "sync_round.py"), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0 and "--flag-rule" in answer.stdout
