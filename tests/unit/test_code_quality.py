"""The static checks configured in pyproject.toml, run where CI runs the tests: ruff (lint and format), the layer
contract and acyclic packages (import-linter), and mypy on the package. Each failure prints the tool's own report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*command: str) -> subprocess.CompletedProcess:
    executable = shutil.which(command[0], path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if executable is None:
        pytest.fail(f"{command[0]} is not installed: it comes with the test extra (pip install '.[test]')")
    # The checkout's package, not whatever copy is installed: import-linter and mypy import or read it by name.
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("lint-imports",), ("mypy",)],
    ids=["ruff-lint", "ruff-format", "import-contracts", "mypy"],
)
def test_static_check_passes(command):
    done = _run(*command)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
