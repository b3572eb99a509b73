"""How OpenMP threads wait between operations, and how many of them a fill on the CPU runs on.

torch's OpenMP threads wake for every parallel operation of a forward (each matrix product, the attention, large
element-wise ops). Threads that sleep as soon as an operation ends pay a wake-up for the next: on this project's
two-core machine a decode step of 4 rows x 3 positions took 50 ms so, 36-40 ms with threads that spin ~10,000
pauses before they sleep (libgomp's `GOMP_SPINCOUNT`), and `bench lsp` answered at a p50 of 475 ms against 524
(model card, "CPU speed"). Spinning costs where another process wants the cores: with a busy process on one of the
two, the same step took 106 ms spinning against 58 sleeping, since the team's barrier waits for a thread the system
has put aside. One thread has no team to wait for (55 ms beside the busy process). So threads spin briefly
(`configure_waiting`, before torch loads), and each fill runs on as many threads as there are cores other
processes leave idle (`IdleCores`), one at least.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Pauses a libgomp thread spins after an operation before it sleeps: covers the gap between two operations of one
# forward (tens of µs), not the gap between forwards. 2,000 and 5,000 gave 46 and 44 ms for the step above; 10,000
# and 100,000 36 ms, with 106 and 258 ms beside a busy process.
SPIN_COUNT = 10_000


def configure_waiting(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set how idle OpenMP threads wait, unless the user has: read once, when torch loads its OpenMP runtime.

    libgomp (torch's Linux wheels) spins `SPIN_COUNT` pauses (`GOMP_SPINCOUNT` takes precedence over the wait
    policy); other runtimes wait passively: their default spin lasts up to 200 ms, which on a busy machine made
    small operations ~80x slower."""
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))


@dataclass(frozen=True)
class CpuSample:
    """Busy time of the cores this process may run on, and this process's own CPU time, at one moment (seconds)."""

    busy: float
    own: float
    at: float


def read_sample(stat: Path = Path("/proc/stat"), cores: frozenset[int] | None = None) -> CpuSample | None:
    """The busy time of `cores` (this process's affinity) from `stat`; None where it cannot be read.

    Only the per-core lines of the allowed cores count: in a container limited to some of a host's cores, the
    first line sums the whole host. Read directly rather than through psutil (which reads the same file here):
    the threads spin only under libgomp, that is on Linux, the one place this is needed."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    allowed = _affinity() if cores is None else cores
    busy, seen = 0, False
    for line in lines:
        name, *fields = line.split() or [""]
        if not (name.startswith("cpu") and name[3:].isdigit()) or int(name[3:]) not in allowed:
            continue
        try:
            values = [int(v) for v in fields[:8]]
        except ValueError:
            return None
        if len(values) < 5:
            return None
        busy += sum(values) - values[3] - values[4]  # user .. steal, less idle and iowait (guest is inside user)
        seen = True
    if not seen:
        return None
    return CpuSample(busy / os.sysconf("SC_CLK_TCK"), time.process_time(), time.monotonic())


def _affinity() -> frozenset[int]:
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def threads_for(cores: int, most: int, others: float) -> int:
    """Threads for a fill: the cores that other processes (using `others` cores' worth of time) leave idle,
    rounded to the nearest, at most `most`, at least one."""
    return max(1, min(most, int(cores - others + 0.5)))


@dataclass
class IdleCores:
    """Decides each fill's thread count from how busy other processes kept this process's cores since the last
    decision at least `interval` seconds ago (shorter gaps keep the last decision: /proc/stat counts in 10 ms
    ticks)."""

    most: int  # the threads the user allows (`threads`, else torch's default)
    cores: int = field(default_factory=lambda: len(_affinity()))
    sample: Callable[[], CpuSample | None] = read_sample
    interval: float = 0.5
    _last: CpuSample | None = field(init=False)
    _threads: int = field(init=False)

    def __post_init__(self) -> None:
        self._last = self.sample()
        self._threads = self.most

    def threads(self) -> int:
        if self._last is None:  # no statistics here (not Linux): nothing to read on every fill
            return self.most
        now = self.sample()
        if now is None:
            return self.most
        elapsed = now.at - self._last.at
        if elapsed >= self.interval:
            others = max(0.0, (now.busy - self._last.busy) - (now.own - self._last.own)) / elapsed
            threads = threads_for(self.cores, self.most, others)
            if threads != self._threads:
                log.info("%d threads: other processes kept %.1f of %d cores busy", threads, others, self.cores)
            self._threads, self._last = threads, now
        return self._threads

    def apply(self) -> None:
        """Set torch's thread count for the fill about to run (`threads`), where it changed."""
        import torch  # here, not at import: the CLI configures OpenMP before torch loads

        threads = self.threads()
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
