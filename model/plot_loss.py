"""Plot a run's loss log: training losses (left) and held-out losses (right) against tokens seen.

python model/plot_loss.py model/runs/main                 # writes model/loss.png
python model/plot_loss.py model/runs/main --out other.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on the build machine
import matplotlib.pyplot as plt

DEFAULT_OUT = Path(__file__).with_name("loss.png")


def read_log(run_dir: Path) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in records if "loss" in r], [r for r in records if "eval" in r]


def plot(run_dir: Path, out: Path) -> None:
    train, evals = read_log(run_dir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    millions = [r["tokens"] / 1e6 for r in train]
    for key in ("loss", "diffusion", "ar"):
        left.plot(millions, [r[key] for r in train], label=key, linewidth=1)
    left.set(title=f"train ({run_dir.name})", xlabel="tokens seen (M)", ylabel="cross-entropy (nats)")
    left.legend()
    if evals:
        millions = [r["tokens"] / 1e6 for r in evals]
        for key in evals[0]["eval"]:
            right.plot(millions, [r["eval"][key] for r in evals], marker="o", markersize=3, label=key)
        right.legend(fontsize=8)
    right.set(title="held-out", xlabel="tokens seen (M)", ylabel="cross-entropy (nats)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    if train:
        last = train[-1]
        fig.suptitle(
            f"step {last['step']}, {last['tokens'] / 1e6:.2f}M tokens, {last['elapsed_s'] / 60:.0f} min", fontsize=10
        )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    plot(args.run_dir, args.out)


if __name__ == "__main__":
    main()
