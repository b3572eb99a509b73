"""`dgemma-lsp bench engine`: the same weights decoded two ways on the same holes, side by side.

- diffusion: `engine.denoise`, parallel in-block denoising (the sampler settings as configured);
- autoregressive: `autoregressive.greedy_decode`, the encoder as a causal LM with its KV cache, greedy.

Holes come from HumanEval-Infilling (single- and multi-line; pass@1 is run for those) and from lines cut out of
real source files (the package's own modules, which ship with every install). Each hole is bucketed by the length
of its reference middle in tokens (1-16, 17-64, 65-256) and both decoders get the same token budget: the bucket's
upper bound, rounded up to whole canvases. Both times include encoding the prompt; tokens/s counts the middle's
tokens before EOS, so a decoder gains nothing by running on past the end. For a rest-of-line hole the AR decoder
stops at the first token holding a newline (the line is all that is kept), as an AR server would.

`--fixed-length` ignores EOS in both decoders and decodes the whole budget: raw decoding speed, independent of
when particular weights happen to stop (an under-trained model may stop at once in one decoder and never in the
other). Exact match is then meaningless and pass@1 is not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dgemma_lsp.evaluation.bench.common import (
    DEFAULT_OUT,
    machine,
    package_sources,
    percentile,
    pyplot,
    save_figure,
    write_json,
)
from dgemma_lsp.evaluation.humaneval import (
    BENCHMARKS,
    LANGUAGE,
    Task,
    check,
    data_dir,
    exact_match,
    load_tasks,
    middle_from,
    request_for,
)
from dgemma_lsp.fill.holes import FillKind

BUCKETS = ((1, 16), (17, 64), (65, 256))
DECODERS = ("diffusion", "autoregressive")
CUT_LINES = (1, 3, 8, 20)  # lines cut out of a real file for one hole: short to long middles
SAMPLE_SEED = 0


@dataclass(frozen=True)
class Hole:
    source: str  # "humaneval-single", "humaneval-multi" or "file"
    task: Task  # prompt / middle / suffix (tests only for HumanEval)
    kind: FillKind
    middle_tokens: int  # the reference middle after the cursor, in tokens

    @property
    def bucket(self) -> tuple[int, int] | None:
        return next((b for b in BUCKETS if b[0] <= self.middle_tokens <= b[1]), None)


def file_holes(paths: list[Path], seed: int = SAMPLE_SEED) -> list[Task]:
    """Holes cut from real files: 1, 3, 8 or 20 whole indented lines, starting at a random non-blank line."""
    rng = random.Random(seed)
    tasks = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        indented = [i for i, line in enumerate(lines) if line.strip() and line[0] in " \t" and i > 0]
        for count in CUT_LINES:
            starts = [i for i in indented if i + count <= len(lines)]
            if not starts:
                break
            start = rng.choice(starts)
            end = start + count
            middle = "".join(lines[start:end])
            if not middle.endswith("\n"):
                continue
            prompt, suffix = "".join(lines[:start]), "".join(lines[end:])
            tasks.append(Task(f"{path.name}:{start + 1}+{end - start}", "", prompt, suffix, middle, ""))
    return tasks


def collect_holes(encode, limit: int, data: Path | None, files: list[Path]) -> list[Hole]:
    """Up to `limit` holes per bucket per source, a seeded sample."""
    sources: list[tuple[str, list[Task], FillKind | None]] = []
    for name in ("single-line", "multi-line"):  # whole-line middles, as an editor user asks for them
        file_name, kind = BENCHMARKS[name][:2]
        path = (data or data_dir()) / file_name
        if path.is_file():
            sources.append((f"humaneval-{name}", load_tasks(path), kind))
        else:
            print(f"bench engine: {path} not found; skipping HumanEval {name}", file=sys.stderr)
    sources.append(("file", file_holes(files), None))
    holes = []
    for source, tasks, source_kind in sources:
        rng = random.Random(SAMPLE_SEED)
        order = list(tasks)
        rng.shuffle(order)
        taken = dict.fromkeys(BUCKETS, 0)
        for task in order:
            hole_kind = source_kind or (FillKind.LINE if task.middle.count("\n") == 1 else FillKind.BLOCK)
            indent = task.middle[: len(task.middle) - len(task.middle.lstrip(" \t"))]
            hole = Hole(source, task, hole_kind, len(encode(task.middle[len(indent) :].removesuffix("\n"))))
            if hole.bucket and taken[hole.bucket] < limit:
                taken[hole.bucket] += 1
                holes.append(hole)
    return holes


def run_hole(
    filler,
    hole: Hole,
    decoder: str,
    seed: int,
    *,
    fixed_length: bool = False,
    line_stops: frozenset[int] = frozenset(),
    canvas_length: int | None = None,
) -> dict:
    """One decode of one hole; the middle is post-processed exactly as the pipeline does."""
    import torch

    from dgemma_lsp.diffusion.autoregressive import greedy_decode
    from dgemma_lsp.diffusion.sampler import denoise
    from dgemma_lsp.fill.context import healing_clamps
    from dgemma_lsp.fill.postprocess import postprocess

    loaded, settings = filler.loaded, filler.settings
    bucket = hole.bucket
    assert bucket is not None  # `collect_holes` keeps only holes in a bucket
    request = request_for(hole.task, hole.kind)
    canvas = filler.canvas_for(request.text, request.hole, LANGUAGE)
    canvas_length = canvas_length or loaded.canvas_length
    canvases = math.ceil(bucket[1] / canvas_length)
    eos_id = -1 if fixed_length else loaded.eos_id  # no token has id -1: decode the whole budget
    stops = line_stops if hole.kind is FillKind.LINE and not fixed_length else frozenset()
    started = time.perf_counter()
    if decoder == "diffusion":
        generator = torch.Generator(device=loaded.model.device).manual_seed(seed)
        # A checkpoint trained with healed indentation gets its canvas's first tokens pinned to it, as the server
        # pins them; no syntax clamps, so both decoders see the same prompt and nothing else.
        pinned = healing_clamps(canvas.healed, loaded.tokenizer, loaded.eos_id)[0] if canvas.healed else None
        denoised = denoise(
            loaded.model,
            canvas.prompt_ids,
            eos_id=eos_id,
            max_canvases=canvases,
            sampler=settings.sampler.over(loaded.sampler),
            clamps=pinned,
            generator=generator,
            canvas_length=canvas_length,
        )
        ids, steps, used = denoised.candidates[0], denoised.steps, denoised.canvases
        forward_seconds = denoised.forward_seconds
    else:
        greedy = greedy_decode(
            loaded.model, canvas.prompt_ids, eos_id=eos_id, max_new_tokens=canvases * canvas_length, stop_ids=stops
        )
        ids, steps, used = greedy.tokens, greedy.forwards, None
        forward_seconds = greedy.forward_seconds
    seconds = time.perf_counter() - started
    fitted = postprocess(filler.middle_text(ids, canvas), text=request.text, hole=request.hole, language=LANGUAGE)
    middle = middle_from(hole.task, request, fitted)
    return {
        "hole": hole.task.task_id,
        "source": hole.source,
        "bucket": f"{bucket[0]}-{bucket[1]}",
        "middle_tokens": hole.middle_tokens,
        "decoder": decoder,
        "seconds": seconds,
        "tokens": len(ids),
        "forwards": steps,
        "canvases": used,
        "forward_seconds": forward_seconds,
        "exact": exact_match(middle, hole.task.middle),
        "middle": middle,
        "passed": None,
    }


def summarize(rows: list[dict]) -> dict:
    """Per bucket and decoder: tokens/s, latency, steps per canvas, exact match, pass@1; and the speed-up."""
    summary = {}
    for low, high in BUCKETS:
        bucket = f"{low}-{high}"
        entry = {}
        for decoder in DECODERS:
            picked = [r for r in rows if r["bucket"] == bucket and r["decoder"] == decoder]
            if not picked:
                continue
            seconds = [r["seconds"] for r in picked]
            p95 = percentile(seconds, 95)
            assert p95 is not None  # `picked` is not empty
            tested = [r for r in picked if r["passed"] is not None]
            canvases = sum(r["canvases"] or 0 for r in picked)
            entry[decoder] = {
                "fills": len(picked),
                "tokens_per_s": sum(r["tokens"] for r in picked) / sum(seconds),
                "latency_ms_p50": statistics.median(seconds) * 1000,
                "latency_ms_p95": p95 * 1000,
                "tokens_per_fill": statistics.mean(r["tokens"] for r in picked),
                "forwards_per_fill": statistics.mean(r["forwards"] for r in picked),
                "steps_per_canvas": sum(r["forwards"] for r in picked) / canvases if canvases else None,
                "exact": sum(r["exact"] for r in picked) / len(picked),
                "pass@1": sum(r["passed"] for r in tested) / len(tested) if tested else None,
                "tested": len(tested),
            }
        if len(entry) == 2 and entry["autoregressive"]["tokens_per_s"]:
            entry["speedup"] = entry["diffusion"]["tokens_per_s"] / entry["autoregressive"]["tokens_per_s"]
        summary[bucket] = entry
    return summary


def format_table(summary: dict) -> str:
    lines = [
        f"{'middle':<8}{'decoder':<16}{'fills':>6}{'tok/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'tok/fill':>9}"
        f"{'steps/canvas':>13}{'exact':>7}{'pass@1':>8}"
    ]
    for bucket, entry in summary.items():
        for decoder in DECODERS:
            if decoder not in entry:
                continue
            s = entry[decoder]
            steps = "-" if s["steps_per_canvas"] is None else f"{s['steps_per_canvas']:.1f}"
            passed = "-" if s["pass@1"] is None else f"{s['pass@1']:.2f}"
            lines.append(
                f"{bucket:<8}{decoder:<16}{s['fills']:>6}{s['tokens_per_s']:>8.1f}{s['latency_ms_p50']:>9.0f}"
                f"{s['latency_ms_p95']:>9.0f}{s['tokens_per_fill']:>9.1f}{steps:>13}{s['exact']:>7.2f}{passed:>8}"
            )
        if "speedup" in entry:
            lines.append(f"{bucket:<8}{'diffusion / AR tokens/s':<40}{entry['speedup']:>6.2f}x")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for decoder, marker in zip(DECODERS, ("o", "s")):
        picked = [r for r in rows if r["decoder"] == decoder]
        axis.scatter(
            [r["middle_tokens"] for r in picked],
            [r["seconds"] * 1000 for r in picked],
            marker=marker,
            alpha=0.6,
            label=decoder,
        )
    axis.set_xscale("log")
    axis.set_xlabel("reference middle length (tokens)")
    axis.set_ylabel("latency per fill (ms)")
    axis.set_title("Diffusion vs autoregressive decoding, same weights")
    axis.legend()
    axis.grid(alpha=0.3)
    return save_figure(plt, figure, path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=3, help="holes per length bucket per source (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="diffusion sampling seed")
    parser.add_argument("--data", type=Path, help="HumanEval-Infilling folder (default: model/data/...)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for engine.json and engine.png")
    parser.add_argument("--no-tests", action="store_true", help="skip running HumanEval tests (pass@1)")
    parser.add_argument("--fixed-length", action="store_true", help="ignore EOS: decode the whole budget (raw speed)")
    parser.add_argument("--canvas-length", type=int, help="diffusion canvas length (default: the model's)")


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    from dgemma_lsp.diffusion.tokens import newline_ids
    from dgemma_lsp.evaluation.humaneval import _filler

    if args.limit < 1 or (args.canvas_length is not None and args.canvas_length < 1):
        print("bench engine: --limit and --canvas-length must be at least 1", file=sys.stderr)
        return 2
    # Both decoders run on the same weights: the diffusion sampler needs transformers' forward and so the fp32
    # projections, which bfloat16 matmuls would release (`lean.pack_bfloat16`).
    filler, settings = _filler({"matmuls": "float32"} | cli_settings, args.seed)
    if filler is None:
        return 2
    files = package_sources()
    holes = collect_holes(filler.loaded.prompt_format.encode, args.limit, args.data, files)
    if not holes:
        print("bench engine: no holes to decode", file=sys.stderr)
        return 2
    line_stops = newline_ids(filler.loaded.tokenizer)
    options = dict(fixed_length=args.fixed_length, line_stops=line_stops, canvas_length=args.canvas_length)
    for decoder in DECODERS:  # warm up: first calls allocate and pick kernels
        run_hole(filler, holes[0], decoder, args.seed, **options)
    rows = []
    started = time.perf_counter()
    for number, hole in enumerate(holes, 1):
        for decoder in DECODERS:  # interleaved, so a change in the machine's load hits both alike
            rows.append(run_hole(filler, hole, decoder, args.seed, **options))
        print(f"bench engine: {number}/{len(holes)} holes ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if not (args.no_tests or args.fixed_length):
        by_id = {hole.task.task_id: hole for hole in holes}
        for row in rows:
            task = by_id[row["hole"]].task
            if task.test:
                row["passed"] = check(task, row["middle"]).status == "passed"
    summary = summarize(rows)
    print(format_table(summary))
    report = {
        "benchmark": "engine",
        "machine": machine(),
        "model": settings.model,
        "canvas_length": args.canvas_length or filler.loaded.canvas_length,
        "threads": settings.threads,
        "sampler": dataclasses.asdict(settings.sampler.over(filler.loaded.sampler)),
        "limit": args.limit,
        "seed": args.seed,
        "fixed_length": args.fixed_length,
        "summary": summary,
        "fills": rows,
    }
    name = "engine-fixed" if args.fixed_length else "engine"
    write_json(args.out / f"{name}.json", report)
    drew = plot(rows, args.out / f"{name}.png")
    print(f"wrote {args.out / name}.json" + (f" and {args.out / name}.png" if drew else ""))
    return 0
