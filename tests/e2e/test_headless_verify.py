"""`fill --verify CMD`: only fills that pass CMD stay, and the user's files are whole whatever happens to the run
(CMD failing or crashing, Ctrl-C, SIGTERM, SIGKILL)."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_model import scripted_loader

from dgemma_lsp.cli import main as cli_main
from dgemma_lsp.diffusion import loading
from dgemma_lsp.headless import atomic, verify

FAKE = Path(__file__).parents[1] / "fake_model.py"
STUB = "def triple(x):\n    pass\n"
FILLED = {answer: STUB.replace("pass", answer) for answer in ("return x * 2", "return x * 3", "return x")}


@pytest.fixture
def project(tmp_path: Path, monkeypatch):
    (tmp_path / "m.py").write_text(STUB)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "load", scripted_loader(["return x * 2", "return x * 3", "return x"]))
    return tmp_path


def _no_journal(root: Path) -> bool:
    return not [p for p in root.iterdir() if p.name.endswith(verify.BACKUP_MARK) or atomic.TEMP_MARK in p.name]


CHECK = f'{sys.executable} -c "import m; assert m.triple(2) == 6"'


def test_verify_keeps_the_first_candidate_with_which_the_command_passes(project: Path, capsys):
    assert cli_main(["fill", "--verify", CHECK, "--candidates", "3", "--write", "--json", "."]) == 0
    assert (project / "m.py").read_text() == FILLED["return x * 3"]
    (hole,) = json.loads(capsys.readouterr().out)["files"][0]["holes"]
    assert hole["status"] == "filled" and hole["candidates_tried"] == 2
    assert _no_journal(project)


def test_same_size_candidates_in_one_second_are_not_hidden_by_stale_bytecode(project: Path, monkeypatch):
    # "return x * 2" and "return x * 3" have one size; CPython's .pyc check is mtime in whole seconds plus size, so
    # a .pyc written while testing the first would be taken for the second. The machine's own setting must not
    # hide that here.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    for _ in range(3):
        (project / "m.py").write_text(STUB)
        assert cli_main(["fill", "--verify", CHECK, "--candidates", "2", "--write", "."]) == 0
        assert (project / "m.py").read_text() == FILLED["return x * 3"]
    assert not (project / "__pycache__").exists()


def test_verify_restores_the_original_when_no_candidate_passes(project: Path, capsys):
    check = f'{sys.executable} -c "import m; assert m.triple(2) == 7"'
    assert cli_main(["fill", "--verify", check, "--candidates", "3", "."]) == 1
    assert (project / "m.py").read_text() == STUB
    assert "verify-failed" in capsys.readouterr().err
    assert _no_journal(project)


@pytest.mark.parametrize("command", ["kill -SEGV $$", "no-such-command-dgemma", "exit 3"])
def test_a_crashing_or_missing_command_restores_the_original(project: Path, command):
    assert cli_main(["fill", "--verify", command, "--candidates", "2", "."]) == 1
    assert (project / "m.py").read_text() == STUB and _no_journal(project)


def test_a_command_that_runs_too_long_is_stopped(project: Path, capsys):
    started = time.monotonic()
    assert cli_main(["fill", "--verify", "sleep 30", "--verify-timeout", "0.5", "--candidates", "1", "."]) == 1
    assert time.monotonic() - started < 20
    assert (project / "m.py").read_text() == STUB and "timed out" in capsys.readouterr().err


def test_verify_with_diff_prints_the_verified_fill_and_changes_nothing(project: Path, capsys):
    assert cli_main(["fill", "--verify", CHECK, "--candidates", "3", "--diff", "."]) == 0
    assert "+    return x * 3" in capsys.readouterr().out
    assert (project / "m.py").read_text() == STUB and _no_journal(project)


# ---- what a killed run leaves, and the next run undoes ----------------------------------------------------------


def _journal(path: Path, original: str, written: list[str]) -> None:
    import hashlib

    entry = {
        "original": base64.b64encode(original.encode()).decode(),
        "mode": 0o644,
        "written": [hashlib.sha256(w.encode()).hexdigest() for w in written],
    }
    verify.backup_path(path).write_text(json.dumps(entry))


def test_restore_interrupted_puts_back_the_original_over_a_candidate_it_wrote(tmp_path: Path):
    path = tmp_path / "m.py"
    path.write_text(FILLED["return x"])
    _journal(path, STUB, [FILLED["return x"]])
    (tmp_path / f".m.py{atomic.TEMP_MARK}abc").write_text("half")
    assert "restored" in verify.restore_interrupted(path)
    assert path.read_text() == STUB and _no_journal(tmp_path)
    assert verify.restore_interrupted(path) is None


def test_restore_interrupted_never_overwrites_a_later_edit(tmp_path: Path):
    path = tmp_path / "m.py"
    path.write_text("edited by the user since\n")
    _journal(path, STUB, [FILLED["return x"]])
    assert "kept" in verify.restore_interrupted(path)
    assert path.read_text() == "edited by the user since\n" and verify.backup_path(path).exists()


# ---- killing the CLI mid-run ---------------------------------------------------------------------------------

WAIT_AND_SLEEP = """\
import os, sys, time
if "return" in open("b.py").read():
    open("cmd.pid.tmp", "w").write(str(os.getpid()))
    os.replace("cmd.pid.tmp", "cmd.pid")
    time.sleep(120)
"""


def _start_verify_run(root: Path) -> tuple[subprocess.Popen, int]:
    """`fill --verify --write` over a.py and b.py: CMD passes for a.py's fill, then sleeps with b.py's candidate
    in place. Returns the CLI process and CMD's pid once CMD is sleeping."""
    for name in ("a.py", "b.py"):
        (root / name).write_text(STUB)
    (root / "check.py").write_text(WAIT_AND_SLEEP)
    argv = [sys.executable, str(FAKE), json.dumps(["return x * 3"]), "fill", "--write", "--verify",
            f"{sys.executable} check.py", "a.py", "b.py"]  # fmt: skip
    # A shell without job control starts background jobs with SIGINT ignored, and Python then never installs its
    # KeyboardInterrupt handler: give the CLI the default disposition a terminal's Ctrl-C meets.
    process = subprocess.Popen(
        argv,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (root / "cmd.pid").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the verify command never started"
        time.sleep(0.1)
    return process, int((root / "cmd.pid").read_text())


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_run_settles_every_file_and_stops_the_command(tmp_path: Path, signum):
    process, cmd_pid = _start_verify_run(tmp_path)
    assert (tmp_path / "b.py").read_text() == FILLED["return x * 3"]  # the candidate is in place
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert (tmp_path / "a.py").read_text() == FILLED["return x * 3"]  # passed before the interruption: kept
    assert (tmp_path / "b.py").read_text() == STUB  # under test when interrupted: back to the original
    assert _no_journal(tmp_path)
    assert _gone(cmd_pid), "the verify command outlived the run"


def test_a_killed_run_leaves_whole_files_and_the_next_run_restores_them(tmp_path: Path, monkeypatch, capsys):
    process, cmd_pid = _start_verify_run(tmp_path)
    process.kill()  # SIGKILL: nothing runs after this, in the CLI
    process.communicate(timeout=60)
    os.kill(cmd_pid, signal.SIGKILL)  # CMD leads its own session, so it outlives the CLI; stop it here
    assert (tmp_path / "a.py").read_text() in (STUB, FILLED["return x * 3"])
    assert (tmp_path / "b.py").read_text() in (STUB, FILLED["return x * 3"])
    assert verify.backup_path(tmp_path / "b.py").exists()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "load", scripted_loader(["return x * 3"]))
    assert cli_main(["fill", "--diff", "a.py", "b.py"]) == 0  # any run but --check undoes the killed one
    assert "b.py: restored the original" in capsys.readouterr().err
    assert (tmp_path / "a.py").read_text() == FILLED["return x * 3"]
    assert (tmp_path / "b.py").read_text() == STUB
    assert _no_journal(tmp_path)


def test_a_trial_puts_back_only_its_own_candidates(tmp_path: Path):
    path = tmp_path / "m.py"
    path.write_text(STUB)
    with verify.FileTrial(atomic.read_snapshot(path)) as trial:
        trial.put(FILLED["return x"])
        assert path.read_text() == FILLED["return x"] and verify.backup_path(path).exists()
    assert path.read_text() == STUB and _no_journal(tmp_path)

    with verify.FileTrial(atomic.read_snapshot(path)) as trial:
        trial.put(FILLED["return x"])
        path.write_text("the user's edit\n")  # someone else writes meanwhile: never undone
        with pytest.raises(atomic.ChangedOnDiskError):
            trial.put(FILLED["return x * 2"])
    assert path.read_text() == "the user's edit\n" and _no_journal(tmp_path)

    path.write_text(STUB)
    with verify.FileTrial(atomic.read_snapshot(path)) as trial:
        trial.put(FILLED["return x"])
        trial.finish(FILLED["return x * 3"])
    assert path.read_text() == FILLED["return x * 3"] and _no_journal(tmp_path)
