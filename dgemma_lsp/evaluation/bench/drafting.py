"""`dgemma-lsp bench drafting`: greedy decoding with and without drafts, side by side on the same holes.

Each hole goes through the editor's own path (`realcode.editor_hole` or HumanEval's line request, `Filler.fill`,
post-processing) once per arm: plain greedy (`completion.draftTokens` 0) and prompt-lookup drafts of each
`--draft-tokens` length; with `--settings '{"decoding": "drafted"}'` (a checkpoint with a drafter) also the
denoiser's canvas drafts, alone and with prompt lookup (the longer draft goes). The arms take turns in a rotating
order, each from an empty prompt cache, so that the machine's load falls on all of them alike. Drafts must not
change a fill: the report counts the fills that differ from greedy's (with `--settings '{"matmuls": "float32"}'`
0 is the only right answer; bfloat16 matmuls round a forward over several positions a little differently, and
near-ties may go the other way), and gives per arm the milliseconds per fill (whole fill and its decoding stage),
the forwards per fill, and the tokens each branch commits per verifying forward.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

from dgemma_lsp.evaluation.bench.common import DEFAULT_OUT, machine, pyplot, save_figure, write_json
from dgemma_lsp.fill.holes import FillKind
from dgemma_lsp.fill.holes import Hole as Span

KINDS = ("line-indented", "line-column0", "block-opener")


@dataclasses.dataclass(frozen=True)
class Hole:
    task_id: str
    source: str  # "real-code <kind>" or "humaneval"
    text: str
    hole: Span
    language: str


def add_arguments(parser) -> None:
    from dgemma_lsp.evaluation.humaneval import _positive

    parser.add_argument("--limit", type=_positive, default=20, help="real-code dev holes per kind (default 20)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="real-code hole kinds")
    parser.add_argument("--humaneval", type=int, default=20, help="HumanEval single-line tasks (a seeded sample)")
    parser.add_argument("--draft-tokens", type=_positive, nargs="+", default=[2, 4], help="draft lengths to compare")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for drafting.json and drafting.png")


def collect_holes(limit: int, kinds: list[str], humaneval: int) -> list[Hole]:
    import random

    from dgemma_lsp.evaluation import humaneval as he
    from dgemma_lsp.evaluation import realcode

    holes = []
    path = realcode.data_dir() / "python.jsonl.gz"
    if path.is_file():
        files = realcode.load_files(path, "dev")
        for kind in kinds:
            for code in realcode.build_tasks(files, kind, limit):
                span = realcode.editor_hole(code)
                if span.kind is not FillKind.NONE:
                    holes.append(Hole(code.task_id, f"real-code {kind}", code.document, span, code.language))
    else:
        print(f"bench drafting: {path} not found; no real-code holes", file=sys.stderr)
    if humaneval:
        file_name, line = he.BENCHMARKS["single-line"][:2]
        path = he.data_dir() / file_name
        if path.is_file():
            tasks = he.load_tasks(path)
            random.Random(0).shuffle(tasks)
            for task in tasks[:humaneval]:
                request = he.request_for(task, line)
                holes.append(Hole(task.task_id, "humaneval", request.text, request.hole, "python"))
        else:
            print(f"bench drafting: {path} not found; no HumanEval holes", file=sys.stderr)
    return holes


def run(args, cli_settings: dict) -> int:
    from dgemma_lsp.diffusion.sampler import PromptCache
    from dgemma_lsp.evaluation.humaneval import _filler

    filler, settings = _filler(cli_settings, seed=0)
    if filler is None:
        return 2
    if filler.loaded.decoding not in ("greedy", "drafted"):
        print("dgemma-lsp: bench drafting needs a model that decodes greedily", file=sys.stderr)
        return 2
    # arm -> (prompt-lookup draft tokens, whether the denoiser drafts too (`decoding` "drafted"), and after how many
    # of the verified tokens it denoises a canvas: None after each)
    arms: dict[str, tuple[int, bool, int | None]] = {"greedy": (0, False, None)}
    arms |= {f"lookup-{k}": (k, False, None) for k in args.draft_tokens}
    loaded = filler.loaded
    if loaded.drafter is not None:
        arms |= {"canvas": (0, True, None)} | {f"canvas+lookup-{k}": (k, True, None) for k in args.draft_tokens}
        arms |= {f"canvas+lookup-{k}, {a} canvases": (k, True, a) for k in args.draft_tokens[:1] for a in (1, 2)}
    holes = collect_holes(args.limit, args.kinds, args.humaneval)
    if not holes:
        print("dgemma-lsp: no holes to fill", file=sys.stderr)
        return 2
    rows: list[dict] = []
    names = list(arms)
    for number, hole in enumerate(holes):
        order = names[number % len(names) :] + names[: number % len(names)]
        for arm in order:
            tokens, drafted, anchors = arms[arm]
            completion = dataclasses.replace(settings.completion, draft_tokens=tokens)
            filler.settings = dataclasses.replace(settings, completion=completion)
            filler.loaded = dataclasses.replace(loaded, decoding="drafted" if drafted else "greedy")
            if loaded.drafter is not None:
                loaded.drafter.anchors = anchors
            filler.prompt_cache = PromptCache()  # every arm encodes the prompt: none inherits another's cache
            started = time.perf_counter()
            outcome = filler.fill(hole.text, hole.hole, hole.language, request_id=hole.task_id)
            rows.append(
                {
                    "task": hole.task_id,
                    "source": hole.source,
                    "arm": arm,
                    "fill": outcome.fills[0].text if outcome.fills else "",
                    "ms": (time.perf_counter() - started) * 1000,
                    "decode_ms": outcome.timings.get("decode", 0.0) * 1000,
                    "forwards": outcome.steps,
                    "branch_forwards": outcome.branch_forwards,
                    "accepted": outcome.accepted,
                }
            )
        print(f"{number + 1}/{len(holes)} {hole.task_id}", file=sys.stderr, flush=True)
    summary = summarize(rows, names)
    report = {"machine": machine(), "settings": dataclasses.asdict(settings), "summary": summary, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "drafting.json", report)
    print(format_table(summary))
    plot(summary, args.out / "drafting.png")
    return 0


def summarize(rows: list[dict], arms: list[str]) -> dict:
    """Per arm and source (and "all"): fills, fills unlike greedy's, ms (median), forwards (mean), tokens a branch
    commits per forward."""
    greedy = {row["task"]: row["fill"] for row in rows if row["arm"] == "greedy"}
    summary: dict[str, dict] = {}
    sources = ["all", *sorted({row["source"] for row in rows})]
    for arm in arms:
        for source in sources:
            mine = [r for r in rows if r["arm"] == arm and source in ("all", r["source"])]
            if not mine:
                continue
            branch_forwards = sum(r["branch_forwards"] for r in mine)
            summary.setdefault(arm, {})[source] = {
                "fills": len(mine),
                "unlike_greedy": sum(r["fill"] != greedy.get(r["task"]) for r in mine),
                "ms_p50": statistics.median(r["ms"] for r in mine),
                "decode_ms_p50": statistics.median(r["decode_ms"] for r in mine),
                "forwards_mean": statistics.fmean(r["forwards"] for r in mine),
                "tokens_per_forward": (branch_forwards + sum(r["accepted"] for r in mine)) / max(1, branch_forwards),
            }
    return summary


def format_table(summary: dict) -> str:
    lines = [
        "| arm | holes | fills | unlike greedy | ms p50 | decode ms p50 | forwards | tokens/forward |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, sources in summary.items():
        for source, s in sources.items():
            lines.append(
                f"| {arm} | {source} | {s['fills']} | {s['unlike_greedy']} | {s['ms_p50']:,.0f} | "
                f"{s['decode_ms_p50']:,.0f} | {s['forwards_mean']:.1f} | {s['tokens_per_forward']:.2f} |"
            )
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    arms = list(summary)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(arms, [summary[arm]["all"]["decode_ms_p50"] for arm in arms], color="#4c72b0")
    left.set_ylabel("decoding ms per fill (median)")
    right.bar(arms, [summary[arm]["all"]["tokens_per_forward"] for arm in arms], color="#55a868")
    right.set_ylabel("tokens per branch forward")
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.suptitle("greedy decoding with drafts: the same fills in fewer forwards")
    figure.tight_layout()
    save_figure(plt, figure, path)
