import logging
import os

import pytest

# Small models run fastest on one thread, and tests share a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """`cli.main` points the root logger at the sys.stderr of the test that calls it, which pytest closes after that
    test; left in place, a later test's warning fails to write ("Logging error ... I/O operation on closed file")."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def tiny_fillers():
    """The seeded tiny model's filler, and the same filler as if its checkpoint healed indentation."""
    import dataclasses

    from dgemma_lsp.evaluation.humaneval import _filler

    filler, _ = _filler({"model": "tiny"}, seed=0)
    return filler, type(filler)(dataclasses.replace(filler.loaded, heals_indentation=True), filler.settings)


@pytest.fixture
def indented_return_task():
    """A single-line HumanEval-Infilling task whose middle is an indented `return` line."""
    from dgemma_lsp.evaluation.humaneval import data_dir, load_tasks

    tasks = load_tasks(data_dir() / "HumanEval-SingleLineInfilling.jsonl.gz")
    return next(t for t in tasks if t.middle.startswith("        return"))
