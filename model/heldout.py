"""What the training corpus must never contain, and the checks that keep it out.

Held out for evaluation: the packages `requests`, `click` and `toolz` (and `cytoolz`) in any version, including
vendored copies anywhere in another package's tree, and HumanEval (its prompts, its function signatures, and any
file that names it). `python model/heldout.py` re-checks a built corpus and exits non-zero on any hit.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from functools import lru_cache
from pathlib import Path, PurePosixPath

HELD_OUT_PACKAGES = frozenset({"requests", "click", "toolz", "cytoolz"})
HUMANEVAL_MARK = "humaneval"
HUMANEVAL_JSONL = Path(__file__).resolve().parents[2] / "shared/data/humaneval-infilling/HumanEval.jsonl.gz"
# Also looked for next to the repository root's parent (CI clones main with shared/ beside it).
_HUMANEVAL_CANDIDATES = (
    HUMANEVAL_JSONL,
    Path(__file__).resolve().parents[1] / "shared/data/humaneval-infilling/HumanEval.jsonl.gz",
    Path("/work/shared/data/humaneval-infilling/HumanEval.jsonl.gz"),
)
PROMPT_PREFIX_CHARS = 200


def normalize_name(name: str) -> str:
    """PEP 503 style: lower case, runs of `-`, `_` and `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_held_out_package(name: str) -> bool:
    """A package whose name is, or has as a `-` separated part, a held-out name (e.g. requests-oauthlib)."""
    norm = normalize_name(name.split("/")[-1])  # npm scopes: @scope/name
    if HUMANEVAL_MARK in norm.replace("-", ""):
        return True
    return norm in HELD_OUT_PACKAGES or any(part in HELD_OUT_PACKAGES for part in norm.split("-"))


def is_held_out_path(path: str) -> bool:
    """A path with a component (a directory, or a file's stem) named like a held-out package.

    'pip/_vendor/requests/api.py' and 'toolz.py' are held out; 'myrequests_helper.py' is not.
    """
    for part in PurePosixPath(path.replace("\\", "/")).parts:
        stem = part.split(".")[0] if "." in part else part
        norm = normalize_name(stem)
        if norm in HELD_OUT_PACKAGES or HUMANEVAL_MARK in norm.replace("-", ""):
            return True
    return False


def _humaneval_file() -> Path:
    for candidate in _HUMANEVAL_CANDIDATES:
        if candidate.exists():
            return candidate
    raise FileNotFoundError("HumanEval.jsonl.gz not found under shared/data/humaneval-infilling/")


@lru_cache(maxsize=1)
def humaneval_snippets() -> tuple[tuple[str, ...], re.Pattern]:
    """The strings whose presence marks a file as HumanEval: each prompt's first 200 characters and each
    entry point's exact `def` line. Returns (snippets, a regex that finds candidate files fast)."""
    snippets: list[str] = []
    names: list[str] = []
    with gzip.open(_humaneval_file(), "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            prompt = row["prompt"].replace("\r\n", "\n")
            snippets.append(prompt[:PROMPT_PREFIX_CHARS])
            names.extend(re.findall(r"^\s*def (\w+)\(", prompt, flags=re.M))
            for sig in re.findall(rf"^def {re.escape(row['entry_point'])}\(.*$", prompt, flags=re.M):
                snippets.append(sig)
    candidate = re.compile(r"def (?:{})\(".format("|".join(sorted(map(re.escape, set(names))))))
    # The fast pre-check is only sound if every snippet itself contains a candidate `def` line.
    assert all(candidate.search(s) for s in snippets), "a HumanEval snippet has no def line"
    return tuple(snippets), candidate


def humaneval_hit(text: str) -> str | None:
    """Why `text` counts as HumanEval material, or None."""
    if HUMANEVAL_MARK in text.lower():
        return "mentions HumanEval"
    snippets, candidate = humaneval_snippets()
    if not candidate.search(text):
        return None
    normalized = text.replace("\r\n", "\n")
    for snippet in snippets:
        if snippet in normalized:
            return "contains a HumanEval prompt or signature"
    return None


def check_record(record: dict) -> str | None:
    """Why one corpus record must not be in the corpus, or None when it may."""
    if is_held_out_package(record["package"]):
        return "held-out package"
    if is_held_out_path(record["path"]):
        return "held-out path"
    return humaneval_hit(record["text"])


def check_corpus(paths: list[Path]) -> list[tuple[str, str, str]]:
    """Every (file, record path, reason) in the given JSONL files that breaks the held-out policy."""
    bad = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                reason = check_record(record)
                if reason:
                    bad.append((str(path), f"{record['package']}:{record['path']}", reason))
    return bad


def main() -> int:
    corpus = Path(__file__).resolve().parent / "work/corpus"
    paths = [Path(p) for p in sys.argv[1:]] or sorted(corpus.glob("*.jsonl"))
    if not paths:
        print(f"no corpus files under {corpus}", file=sys.stderr)
        return 2
    bad = check_corpus(paths)
    for where, what, why in bad[:50]:
        print(f"{where}: {what}: {why}")
    print(f"checked {', '.join(p.name for p in paths)}: {len(bad)} held-out hits")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
