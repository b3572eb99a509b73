"""`dgemma-lsp bench readme`: rewrite the README's results block from the benchmarks' JSON reports, so the table
always says which machine, date and command produced it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BEGIN = "<!-- bench results: begin (dgemma-lsp bench readme) -->"
END = "<!-- bench results: end -->"


def _load(machine: dict) -> str:
    load = machine.get("load_average")
    return f"load {load[0]:.1f}" if load else "load -"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _seconds(value) -> str:
    # None: no suggestion came, or a report older than this figure (it had the first answer, empty or not)
    return "-" if value is None else f"{value:.1f} s"


def _pauses(summary: dict) -> str:
    if summary.get("pauses_with_suggestion_share") is None:  # none, or a report from before the typing model
        return "-"
    return f"{summary['pauses_with_suggestion']} of {summary['pauses']} ({summary['pauses_with_suggestion_share']:.0%})"


def _stages(summary: dict) -> str:
    stages = summary.get("stages_ms_p50") or {}
    encoded = summary.get("encoded_tokens_p50")
    text = ", ".join(f"{stage} {value:.0f} ms" for stage, value in stages.items()) or "-"
    return text + ("" if encoded is None else f" ({encoded:.0f} prompt tokens encoded)")


def lsp_rows(report: dict) -> list[str]:
    s, m = report["summary"], report["machine"]
    share = "-" if s["answered_share"] is None else f"{s['answered_share']:.0%}"
    return [
        f"**bench lsp** ({report['model']} model; {m['cpu']}, {m['cores']} cores, {_load(m)}; "
        f"{m['date']}; `{m['command']}`)",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| inline latency p50 / p95 / max (answered) | {_ms(s['latency_ms_p50'])} / {_ms(s['latency_ms_p95'])} / "
        f"{_ms(s['latency_ms_max'])} | ≤ 300 / ≤ 700 ms |",
        f"| pauses of 500 ms or more with a suggestion before the next key | {_pauses(s)} | ≥ 70% |",
        f"| stage medians per fill | {_stages(s)} | |",
        f"| requests answered / cancelled by the client | {s['answered']} of {s['requests']} ({share}) / "
        f"{s['cancelled']} | |",
        f"| server overhead per fill p50 / p95 (5,000-line file included) | {_ms(s['overhead_ms_p50'])} / "
        f"{_ms(s['overhead_ms_p95'])} | p95 ≤ 10 ms |",
        f"| first suggestion after start | {_seconds(s.get('first_suggestion_s'))} | ≤ 8 s |",
        f"| server CPU / peak RSS | {s['cpu_seconds']:.1f} s / {s['peak_rss_mb']:.0f} MB | RSS ≤ 600 MB |",
    ]


def engine_rows(report: dict) -> list[str]:
    m = report["machine"]
    mode = "fixed length (EOS ignored)" if report.get("fixed_length") else "stop at EOS"
    rows = [
        f"**bench engine**, {mode} ({report['model']} model, canvas {report['canvas_length']}, "
        f"max {report['sampler']['max_denoising_steps']} steps; {m['cpu']}, {_load(m)}; "
        f"{m['date']}; `{m['command']}`)",
        "",
        "| middle (tokens) | decoder | fills | tokens/s | latency p50 | steps/canvas | exact | pass@1 | diffusion/AR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for bucket, entry in report["summary"].items():
        for decoder in ("diffusion", "autoregressive"):
            if decoder not in entry:
                continue
            s = entry[decoder]
            steps = "-" if s["steps_per_canvas"] is None else f"{s['steps_per_canvas']:.1f}"
            passed = "-" if s["pass@1"] is None else f"{s['pass@1']:.2f} (n={s['tested']})"
            ratio = f"{entry['speedup']:.2f}x" if decoder == "diffusion" and "speedup" in entry else ""
            rows.append(
                f"| {bucket} | {decoder} | {s['fills']} | {s['tokens_per_s']:.1f} | "
                f"{_ms(s['latency_ms_p50'])} | {steps} | {s['exact']:.2f} | {passed} | {ratio} |"
            )
    return rows


def drafting_rows(report: dict) -> list[str]:
    m = report["machine"]
    rows = [
        f"**bench drafting** (greedy decoding with and without drafts, the editor's path; {m['cpu']}, "
        f"{_load(m)}; {m['date']}; `{m['command']}`)",
        "",
        "| arm | holes | fills | unlike greedy | ms p50 | decode ms p50 | forwards per fill | tokens per branch forward"
        " |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, sources in report["summary"].items():
        for source, row in sources.items():
            rows.append(
                f"| {arm} | {source} | {row['fills']} | {row['unlike_greedy']} | {row['ms_p50']:,.0f} | "
                f"{row['decode_ms_p50']:,.0f} | {row['forwards_mean']:.1f} | {row['tokens_per_forward']:.2f} |"
            )
    return rows


def soak_rows(report: dict) -> list[str]:
    s, m = report["summary"], report["machine"]
    growth = "-" if s["rss_growth"] is None else f"{s['rss_growth']:+.1%}"
    hours = "; ".join(
        f"hour {int(hour) + 1}: {row['n']} answered, p50 {_ms(row['p50'])}, p95 {_ms(row['p95'])}"
        for hour, row in s["latency_ms_by_hour"].items()
    )
    outcomes = s["outcomes"]
    return [
        f"**bench soak** ({report['model']} model; {m['cpu']}, {m['cores']} cores, {_load(m)}; {m['date']}; "
        f"`{m['command']}`)",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| length, actions | {s['minutes']:.0f} min, {sum(s['actions'].values())} actions "
        f"({', '.join(f'{k} {v}' for k, v in s['actions'].items())}) | 60 min |",
        f"| inline requests: answered / cancelled / stale / errors / unanswered | {outcomes['answered']} / "
        f"{outcomes['cancelled']} / {outcomes['stale']} / {outcomes['error']} / {outcomes['unanswered']} | "
        "stale 0, errors 0 |",
        f"| latency of answered requests, per hour | {hours or '-'} | |",
        f"| Fill this function: asked / edits applied | {s['fills_asked']} / {s['applied_edits']} | |",
        f"| RSS after 5 min, at the end (server idle) | {s['rss_warm_mb']:.0f} MB, {s['rss_end_mb']:.0f} MB ({growth}) "
        "| within 5% |",
        *(
            [f"| RSS per minute, lowest to highest | {s['rss_range_mb'][0]:.0f}-{s['rss_range_mb'][1]:.0f} MB | |"]
            if s.get("rss_range_mb")
            else []
        ),
        f"| open file descriptors over the day | {min(s['fds'])}-{max(s['fds'])} | flat |",
    ]


def render(out: Path) -> str:
    parts = []
    reports = (
        ("lsp.json", lsp_rows),
        ("soak.json", soak_rows),
        ("drafting.json", drafting_rows),
        ("engine.json", engine_rows),
        ("engine-fixed.json", engine_rows),
    )
    for name, rows in reports:
        path = out / name
        if path.is_file():
            parts.append("\n".join(rows(json.loads(path.read_text(encoding="utf-8")))))
    return "\n\n".join(parts)


def replace_block(readme: str, block: str) -> str:
    """`readme` with the text between the markers replaced (the markers appended when missing)."""
    body = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + body + rest.split(END, 1)[1]
    return readme.rstrip("\n") + "\n\n" + body + "\n"


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    block = render(args.out)
    if not block:
        print(f"bench readme: no lsp.json or engine.json in {args.out}; run the benchmarks first", file=sys.stderr)
        return 2
    try:
        text = args.readme.read_text(encoding="utf-8")
    except OSError as error:
        print(f"bench readme: cannot read {args.readme}: {error}", file=sys.stderr)
        return 2
    temporary = args.readme.with_suffix(".tmp")
    temporary.write_text(replace_block(text, block), encoding="utf-8")
    temporary.replace(args.readme)
    print(f"updated {args.readme}")
    return 0
