"""The committed real-code benchmark data (model/data/realcode/, built by model/realcode.py) keeps its policies:
allowed licenses only, its license notices alongside, no training-corpus or held-out package, first published on
or after the cutoff, two non-empty splits, and pins, files and notices that agree. Reads the files only (no
network)."""

from __future__ import annotations

import ast
import gzip
import json
import re
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "model"
DATA = MODEL / "data" / "realcode"
sys.path.insert(0, str(MODEL))

import heldout  # noqa: E402
import licenses  # noqa: E402

CUTOFF = "2025-07-01"


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


PINS = read_jsonl(DATA / "packages.jsonl")
FILES = read_jsonl(DATA / "python.jsonl.gz")
NOTICES = read_jsonl(DATA / "licenses.jsonl.gz")
BY_PACKAGE = {pin["package"]: pin for pin in PINS}


def license_atoms(expression: str) -> set[str]:
    return {a.strip() for a in re.split(r"\s+(?:OR|AND)\s+|[()]", expression) if a.strip()}


def code_lines(text: str) -> int:
    """As model/realcode.py counts them: neither blank nor only a comment."""
    return sum(1 for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#"))


def test_the_data_is_there_and_small():
    assert len(PINS) >= 40
    assert len(BY_PACKAGE) == len(PINS), "a package is pinned twice"
    size = sum((DATA / name).stat().st_size for name in ("python.jsonl.gz", "licenses.jsonl.gz"))
    assert size < 4_000_000


def test_every_license_is_allowed():
    rows = [("pin", r) for r in PINS] + [("file", r) for r in FILES] + [("notice", r) for r in NOTICES]
    bad = {
        (kind, r["package"], r["license"]) for kind, r in rows if not license_atoms(r["license"]) <= licenses.ALLOWED
    }
    assert bad == set()


def test_files_agree_with_the_pins():
    per_package: dict[str, list[dict]] = defaultdict(list)
    for row in FILES:
        per_package[row["package"]].append(row)
    assert set(per_package) == set(BY_PACKAGE)
    for name, rows in per_package.items():
        pin = BY_PACKAGE[name]
        assert {(r["version"], r["license"], r["split"]) for r in rows} == {
            (pin["version"], pin["license"], pin["split"])
        }, name
        assert len(rows) == pin["files"], name
        assert sum(code_lines(r["text"]) for r in rows) == pin["lines"], name
        assert sum(len(r["text"].encode()) for r in rows) == pin["bytes"], name


def test_files_are_sorted_unique_and_normalized():
    keys = [(r["package"], r["path"]) for r in FILES]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert all(r["path"].endswith(".py") and not r["path"].startswith("/") and ".." not in r["path"] for r in FILES)
    assert not [r["path"] for r in FILES if "\r" in r["text"]]


def test_every_package_ships_its_license_notices():
    assert sorted(r["package"] for r in NOTICES) == sorted(BY_PACKAGE)
    for row in NOTICES:
        pin = BY_PACKAGE[row["package"]]
        assert (row["version"], row["license"]) == (pin["version"], pin["license"])
        assert row["files"] and all(text.strip() for text in row["files"].values()), row["package"]


def test_no_training_corpus_or_held_out_package():
    manifest = [json.loads(line) for line in (MODEL / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    trained = {heldout.normalize_name(r["package"]) for r in manifest if r["source"] == "pypi"}
    names = {heldout.normalize_name(p["package"]) for p in PINS}
    assert names & trained == set()
    assert [p["package"] for p in PINS if heldout.is_held_out_package(p["package"])] == []
    assert [r["path"] for r in FILES if heldout.is_held_out_path(r["path"])] == []


def test_first_published_after_the_cutoff():
    for pin in PINS:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", pin["first_upload"]), pin
        assert pin["first_upload"] >= CUTOFF, pin["package"]


def test_pins_are_complete():
    for pin in PINS:
        assert re.fullmatch(r"[0-9a-f]{64}", pin["sha256"]), pin["package"]
        assert pin["archive"].endswith((".tar.gz", ".zip", ".whl")), pin["package"]
        assert pin["files"] >= 3 and pin["lines"] >= 300 and 0 < pin["bytes"] <= 150_000, pin["package"]


def test_two_balanced_splits():
    splits = Counter(pin["split"] for pin in PINS)
    assert set(splits) == {"dev", "test"}
    assert min(splits.values()) >= 0.4 * len(PINS)


def test_every_file_parses():
    broken = []
    for row in FILES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(row["text"])
        except SyntaxError:
            broken.append(f"{row['package']}:{row['path']}")
    assert broken == [], f"{len(broken)} of {len(FILES)} files do not parse"
