"""The `dgemma-lsp bench {lsp,load,engine,readme}` subcommands; each benchmark module owns its arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

from dgemma_lsp.evaluation.bench.common import DEFAULT_OUT


def add_bench_parser(commands, common) -> None:
    bench = commands.add_parser("bench", help="benchmarks: LSP latency while typing, diffusion vs autoregressive")
    which = bench.add_subparsers(dest="benchmark", required=True)
    from dgemma_lsp.evaluation.bench import decoding, drafting, load, lsp, soak

    lsp_parser = which.add_parser("lsp", help="replay typing against the real server over stdio; latency, CPU, RSS")
    lsp.add_arguments(lsp_parser)
    load_parser = which.add_parser("load", help="a request per keystroke at 20/s, then 3/s: stale answers, RSS growth")
    load.add_arguments(load_parser)
    engine_parser = which.add_parser("engine", help="diffusion vs autoregressive decoding of the same weights")
    decoding.add_arguments(engine_parser)
    drafting_parser = which.add_parser("drafting", help="greedy decoding with and without drafts")
    drafting.add_arguments(drafting_parser)
    soak_parser = which.add_parser("soak", help="a working day of editing against the real server: errors, leaks")
    soak.add_arguments(soak_parser)
    readme_parser = which.add_parser("readme", help="rewrite the README's results table from the JSON reports")
    readme_parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder holding lsp.json, engine.json")
    readme_parser.add_argument("--readme", type=Path, default=Path("README.md"))
    for parser in (lsp_parser, load_parser, engine_parser, drafting_parser, soak_parser, readme_parser):
        common(parser)
        parser.set_defaults(log_level="WARNING")


def run_bench(args: argparse.Namespace, cli_settings: dict) -> int:
    from dgemma_lsp.evaluation.bench import decoding, drafting, load, lsp, readme, soak

    runners = {
        "lsp": lsp.run,
        "load": load.run,
        "engine": decoding.run,
        "drafting": drafting.run,
        "soak": soak.run,
        "readme": readme.run,
    }
    runner = runners[args.benchmark]
    return runner(args, cli_settings)
