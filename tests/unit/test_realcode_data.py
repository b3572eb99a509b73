"""The committed real-code benchmark data (model/data/realcode/, built by model/realcode.py) keeps its policies:
allowed licenses only, its license notices alongside, no training-corpus or held-out package, first published on
or after the cutoff, two non-empty splits by a salted hash of the name, and pins, files and notices that agree;
for the PyPI packages (python.jsonl.gz) and the npm ones (typescript.jsonl.gz, javascript.jsonl.gz) alike. Reads
the files only (no network)."""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import re
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

import pytest

from dgemma_lsp.text import syntax

MODEL = Path(__file__).resolve().parents[2] / "model"
DATA = MODEL / "data" / "realcode"
sys.path.insert(0, str(MODEL))

import heldout  # noqa: E402
import licenses  # noqa: E402

CUTOFF = "2025-07-01"
DATA_FILES = ("python.jsonl.gz", "typescript.jsonl.gz", "javascript.jsonl.gz", "licenses.jsonl.gz")
NPM_LANGUAGE_OF_EXT = {
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
}  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


PINS = read_jsonl(DATA / "packages.jsonl")
PYPI = [p for p in PINS if p["source"] == "pypi"]
NPM = [p for p in PINS if p["source"] == "npm"]
FILES = {language: read_jsonl(DATA / f"{language}.jsonl.gz") for language in ("python", "typescript", "javascript")}
ALL_FILES = [row for rows in FILES.values() for row in rows]
NOTICES = read_jsonl(DATA / "licenses.jsonl.gz")
BY_KEY = {(pin["source"], pin["package"]): pin for pin in PINS}
SOURCE_OF_FILE = {"python": "pypi", "typescript": "npm", "javascript": "npm"}


def license_atoms(expression: str) -> set[str]:
    return {a.strip() for a in re.split(r"\s+(?:OR|AND)\s+|[()]", expression) if a.strip()}


def code_lines(text: str, language: str) -> int:
    """As model/realcode.py counts them: neither blank nor only a comment (`#`; `//`, `/*`, `*` for JS/TS)."""
    comment = re.compile(r"#" if language == "python" else r"//|/\*|\*(?:\s|/|$)")
    return sum(1 for line in text.split("\n") if (s := line.strip()) and not comment.match(s))


def split_of(name: str, salt: int) -> str:
    """model/realcode.py's rule: sha256("realcode/<salt>/<normalized name>"), first byte even = dev."""
    digest = hashlib.sha256(f"realcode/{salt}/{heldout.normalize_name(name)}".encode()).digest()
    return "dev" if digest[0] % 2 == 0 else "test"


def test_the_data_is_there_and_small():
    assert len(PYPI) >= 40
    assert len(NPM) >= 10
    assert {p["source"] for p in PINS} == {"pypi", "npm"}
    assert len(BY_KEY) == len(PINS), "a package is pinned twice"
    assert {p["language"] for p in PYPI} == {"python"}
    assert {p["language"] for p in NPM} <= {"typescript", "javascript"}
    size = sum((DATA / name).stat().st_size for name in DATA_FILES)
    assert size < 6_000_000


def test_every_license_is_allowed():
    rows = [("pin", r) for r in PINS] + [("file", r) for r in ALL_FILES] + [("notice", r) for r in NOTICES]
    bad = {
        (kind, r["package"], r["license"]) for kind, r in rows if not license_atoms(r["license"]) <= licenses.ALLOWED
    }
    assert bad == set()


@pytest.mark.parametrize("language", ["python", "typescript", "javascript"])
def test_files_agree_with_the_pins(language):
    source = SOURCE_OF_FILE[language]
    per_package: dict[str, list[dict]] = defaultdict(list)
    for row in FILES[language]:
        per_package[row["package"]].append(row)
    pinned = {p["package"] for p in PINS if p["source"] == source and p["language"] == language}
    assert set(per_package) == pinned
    for name, rows in per_package.items():
        pin = BY_KEY[(source, name)]
        assert {(r["version"], r["license"], r["split"]) for r in rows} == {
            (pin["version"], pin["license"], pin["split"])
        }, name
        assert len(rows) == pin["files"], name
        assert sum(code_lines(r["text"], language) for r in rows) == pin["lines"], name
        assert sum(len(r["text"].encode()) for r in rows) == pin["bytes"], name


@pytest.mark.parametrize("language", ["python", "typescript", "javascript"])
def test_files_are_sorted_unique_and_normalized(language):
    rows = FILES[language]
    keys = [(r["package"], r["path"]) for r in rows]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert all(not r["path"].startswith("/") and ".." not in r["path"] for r in rows)
    assert not [r["path"] for r in rows if "\r" in r["text"]]
    if language == "python":
        assert all(r["path"].endswith(".py") and "language" not in r for r in rows)
    else:
        assert not [r["path"] for r in rows if r["path"].endswith((".d.ts", ".d.mts", ".d.cts"))]
        assert all(r["language"] == NPM_LANGUAGE_OF_EXT.get(PurePosixPath(r["path"]).suffix) for r in rows)


def test_npm_packages_are_of_their_majority_language():
    for pin in NPM:
        rows = [r for r in FILES[pin["language"]] if r["package"] == pin["package"]]
        ts = sum(code_lines(r["text"], "typescript") for r in rows if r["language"] != "javascript")
        assert (pin["language"] == "typescript") == (2 * ts > pin["lines"]), pin["package"]


def test_every_package_ships_its_license_notices():
    assert sorted((r["source"], r["package"]) for r in NOTICES) == sorted(BY_KEY)
    for row in NOTICES:
        pin = BY_KEY[(row["source"], row["package"])]
        assert (row["version"], row["license"]) == (pin["version"], pin["license"])
        assert row["files"] and all(text.strip() for text in row["files"].values()), row["package"]


def test_no_training_corpus_or_held_out_package():
    manifest = [json.loads(line) for line in (MODEL / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    trained = {heldout.normalize_name(r["package"]) for r in manifest if r["source"] == "pypi"}
    assert {heldout.normalize_name(p["package"]) for p in PYPI} & trained == set()
    trained_npm = {r["package"].lower() for r in manifest if r["source"] == "npm"}
    assert {p["package"].lower() for p in NPM} & trained_npm == set()
    assert [p["package"] for p in PINS if heldout.is_held_out_package(p["package"])] == []
    assert [r["path"] for r in ALL_FILES if heldout.is_held_out_path(r["path"])] == []


def test_first_published_after_the_cutoff():
    for pin in PINS:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", pin["first_upload"]), pin
        assert pin["first_upload"] >= CUTOFF, pin["package"]
    for pin in NPM:  # the registry's times alone do not show it (PROVENANCE.md): each says why
        assert pin["evidence"].strip(), pin["package"]
        dates = re.findall(r"\d{4}-\d{2}-\d{2}", pin["evidence"])
        years = [int(y) for y in re.findall(r"copyright (\d{4})", pin["evidence"])]
        assert any(d >= CUTOFF for d in dates) or any(y >= 2026 for y in years), pin["package"]


def test_pins_are_complete():
    for pin in PINS:
        assert re.fullmatch(r"[0-9a-f]{64}", pin["sha256"]), pin["package"]
        suffixes = (".tgz",) if pin["source"] == "npm" else (".tar.gz", ".zip", ".whl")
        assert pin["archive"].endswith(suffixes), pin["package"]
        assert pin["files"] >= 3 and pin["lines"] >= 300 and 0 < pin["bytes"] <= 150_000, pin["package"]


@pytest.mark.parametrize("source", ["pypi", "npm"])
def test_two_balanced_splits(source):
    pins = [p for p in PINS if p["source"] == source]
    splits = Counter(pin["split"] for pin in pins)
    assert set(splits) == {"dev", "test"}
    assert min(splits.values()) >= 0.4 * len(pins)
    salts = [s for s in range(1000) if all(split_of(p["package"], s) == p["split"] for p in pins)]
    assert salts, f"{source}: the splits are not the salted hash of the names"


def test_every_python_file_parses():
    broken = []
    for row in FILES["python"]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(row["text"])
        except SyntaxError:
            broken.append(f"{row['package']}:{row['path']}")
    assert broken == [], f"{len(broken)} of {len(FILES['python'])} files do not parse"


def test_every_javascript_and_typescript_file_parses():
    rows = FILES["typescript"] + FILES["javascript"]
    broken = [f"{r['package']}:{r['path']}" for r in rows if syntax.error_count(r["text"], r["language"])]
    assert rows and broken == [], f"{len(broken)} of {len(rows)} files do not parse"
