"""First run: `make bootstrap` on a machine without uv (a fresh HOME, no uv on PATH) installs uv where the Makefile
looks for it, and the next step (`uv sync`, then a command through `uv run`) finds it. This is the step that
stopped a first `make up` when pip put uv in a folder the Makefile had not guessed (pyenv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _base_python_dir() -> str:
    """The folder of the Python the venv was made from (python3.11 is there), not the venv's."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)).resolve().parent)


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")
def test_bootstrap_without_uv_installs_it_and_the_next_step_uses_it(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for changed in ("Makefile",):  # the working tree's Makefile, committed or not
        shutil.copy(ROOT / changed, clone / changed)
    home = tmp_path / "home"
    home.mkdir()
    path = os.pathsep.join([_base_python_dir(), "/usr/local/bin", "/usr/bin", "/bin"])
    # a new user's shell: a fresh HOME, uv not on PATH, none of this session's CA or index variables (the
    # machine's own files, such as /etc/pip.conf and its certificate store, stay)
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8",
           # the packages come from the machine's uv cache when there is one (no need to download them again)
           "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))}
    assert subprocess.run(["sh", "-c", "command -v uv"], env=env, capture_output=True).returncode != 0, \
        "uv must not be on this test's PATH"

    done = subprocess.run(["make", "--no-print-directory", "bootstrap"], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    uv = clone / ".plenary" / "tools" / "uv" / "bin" / "uv"
    assert uv.is_file() and os.access(uv, os.X_OK)
    assert "Installing uv into" in done.stdout

    # the next step finds the uv it installed, and that uv runs the project's own code
    again = subprocess.run(["make", "--no-print-directory", "-s", "bootstrap"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Installing uv" not in again.stdout, again.stdout + again.stderr
    ran = subprocess.run([str(uv), "run", "--frozen", "plenary", "--help"], cwd=clone, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and "Plenary developer tools" in ran.stdout, ran.stdout + ran.stderr
