"""What both benchmarks share: the machine's description, percentiles, and writing JSON and PNG."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import sys
from pathlib import Path

DEFAULT_OUT = Path("bench-results")
PACKAGE = Path(__file__).resolve().parents[2]  # dgemma_lsp/: its own sources are the benchmarks' code to type


def package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def machine() -> dict:
    """Where and when: figures from a busy 2-core box are not comparable with a quiet one."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": gpu,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "dgemma-lsp " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)  # never a half-written report


def pyplot():
    """matplotlib's pyplot on a file backend, or None with a message: the PNG is optional (`pip install
    'dgemma-lsp[bench]'`), the JSON always comes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed, so no PNG; pip install 'dgemma-lsp[bench]'", file=sys.stderr)
        return None
    return plt


def save_figure(plt, figure, path: Path) -> bool:
    """Write `figure` as a PNG at `path` (folders made) and free it; True, for the plotters' "a PNG was written"."""
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def status_mb(pid: int, field: str) -> float | None:
    """A memory line of a live process's /proc status (`VmRSS` now, `VmHWM` at its peak), in MB; None where there
    is no /proc or no such line."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = re.search(rf"^{field}:\s+(\d+) kB", status, flags=re.MULTILINE)
    return int(kb.group(1)) / 1024 if kb else None
