"""How OpenMP threads wait, and how many threads a fill gets from the cores other processes leave idle."""

import os
from pathlib import Path

import pytest

from dgemma_lsp.diffusion import cpu_threads
from dgemma_lsp.diffusion.cpu_threads import CpuSample, IdleCores, configure_waiting, read_sample, threads_for


def test_waiting_is_configured_only_where_the_user_has_not():
    environ: dict[str, str] = {}
    configure_waiting(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": str(cpu_threads.SPIN_COUNT)}
    mine = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "0"}
    configure_waiting(mine)
    assert mine == {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "0"}


STAT = """cpu  900 0 900 9000 100 0 0 0 0 0
cpu0 100 0 100 4000 50 0 0 0 0 0
cpu1 300 10 200 3000 50 5 5 20 0 0
cpu2 500 0 600 2000 0 0 0 0 0 0
intr 12345
ctxt 6789
"""


def test_a_sample_counts_the_busy_ticks_of_the_allowed_cores_only(tmp_path: Path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    ticks = os.sysconf("SC_CLK_TCK")
    sample = read_sample(stat, frozenset({0, 1}))
    assert sample is not None
    # cpu0: user + system = 200; cpu1: user, nice, system, irq, softirq, steal = 540; idle and iowait are not busy
    assert sample.busy == pytest.approx(740 / ticks)
    only_third = read_sample(stat, frozenset({2}))
    assert only_third is not None and only_third.busy == pytest.approx(1100 / ticks)


def test_no_sample_where_the_statistics_cannot_be_read(tmp_path: Path):
    assert read_sample(tmp_path / "missing") is None
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3 4 5 6 7 8\nintr 1\n")  # no per-core lines
    assert read_sample(stat, frozenset({0})) is None
    stat.write_text(STAT)
    assert read_sample(stat, frozenset({7})) is None  # none of the allowed cores listed
    stat.write_text("\ncpu0 1 2 x 4 5\n")  # a blank line, then a field that is no number
    assert read_sample(stat, frozenset({0})) is None
    stat.write_text("cpu0 1 2 3\n")  # too few fields
    assert read_sample(stat, frozenset({0})) is None


@pytest.mark.parametrize(
    ("cores", "most", "others", "threads"),
    [(2, 2, 0.0, 2), (2, 2, 0.4, 2), (2, 2, 0.6, 1), (2, 2, 1.0, 1), (2, 2, 2.0, 1), (8, 4, 1.0, 4), (8, 4, 5.2, 3)],
)
def test_a_fill_gets_the_cores_others_leave_idle(cores, most, others, threads):
    assert threads_for(cores, most, others) == threads


class Clock:
    """Samples as scripted: (seconds since the start, busy seconds of all the cores, this process's seconds)."""

    def __init__(self, readings):
        self.readings = list(readings)

    def __call__(self):
        at, busy, own = self.readings.pop(0)
        return CpuSample(busy, own, at)


def test_idle_cores_follow_the_busy_time_of_other_processes():
    clock = Clock(
        [
            (0.0, 0.0, 0.0),  # at construction
            (1.0, 1.9, 0.9),  # 1.9 s busy in 1 s, 0.9 of it ours: others kept a whole core busy
            (1.2, 2.3, 1.1),  # 0.2 s later: too soon to judge, the last decision stands
            (2.0, 2.9, 1.8),  # 1 s after the last judgement: 1.0 busy, 0.9 ours: the cores are ours again
        ]
    )
    idle = IdleCores(2, cores=2, sample=clock)
    assert [idle.threads(), idle.threads(), idle.threads()] == [1, 1, 2]


def test_without_statistics_a_fill_gets_every_thread_allowed():
    idle = IdleCores(3, cores=4, sample=lambda: None)
    assert idle.threads() == 3


def test_a_fill_on_the_cpu_runs_on_the_threads_idle_cores_allow(tiny_fillers):
    import torch

    from dgemma_lsp.fill.holes import FillKind, Hole

    tiny, _ = tiny_fillers
    assert tiny._idle_cores is not None  # the tiny model runs on the CPU
    before = torch.get_num_threads()
    decided = []

    def two_threads():
        decided.append(2)
        return 2

    tiny._idle_cores.threads = two_threads
    text = "def total(xs):\n    \n    return xs\n"
    cursor = text.index("    \n") + 4
    try:
        tiny.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
        assert decided and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
