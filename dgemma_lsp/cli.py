"""Command line: `dgemma-lsp serve` (LSP over stdio or TCP), `dgemma-lsp fill` (headless hole filling),
`dgemma-lsp infill` (JSONL prefix/suffix rows) and `dgemma-lsp eval` (HumanEval infilling scores; `evaluate` is
its older spelling)."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys

from dgemma_lsp import __version__
from dgemma_lsp.diffusion.cpu_threads import configure_waiting

EXIT_READER_GONE = 128 + 13  # the shell's status for a process killed by SIGPIPE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dgemma-lsp", description="Code infilling with DiffusionGemma.")
    parser.add_argument("--version", action="version", version=f"dgemma-lsp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    _common(serve)

    from dgemma_lsp.evaluation.humaneval import add_arguments, add_eval_parser
    from dgemma_lsp.headless import fill_files, infill

    fill = commands.add_parser("fill", help="fill stubs and TODOs in files or folders, headless (diff by default)")
    fill_files.add_arguments(fill)
    _common(fill)
    infill_rows = commands.add_parser("infill", help="fill JSONL rows of prefix and suffix")
    infill.add_arguments(infill_rows)
    _common(infill_rows)
    for quiet in (fill, infill_rows):
        quiet.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the report

    from dgemma_lsp.evaluation import realcode

    realcode.add_parser(add_eval_parser(commands, _common), _common)
    evaluate = commands.add_parser("evaluate", help="same as `eval humaneval-infilling`, with --benchmark for --split")
    add_arguments(evaluate)
    _common(evaluate)
    evaluate.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the progress lines

    from dgemma_lsp.evaluation.bench.commands import add_bench_parser

    add_bench_parser(commands, _common)

    args = parser.parse_args(argv)
    configure_waiting()  # read when torch loads
    _fixed_mmap_threshold()
    _configure_logging(args.log_file, args.log_level)
    cli_settings = _cli_settings(args)
    if args.command == "serve":
        return _serve(args, cli_settings)
    try:
        return _run_headless(args, cli_settings)
    except BrokenPipeError:  # the reader of stdout went away (`| head -1`): stop as tools that SIGPIPE kills do
        _silence_stdout()
        return EXIT_READER_GONE


def _run_headless(args, cli_settings: dict) -> int:
    from dgemma_lsp.headless import fill_files, infill

    if args.command == "eval" and args.suite == "real-code":
        from dgemma_lsp.evaluation import realcode

        return realcode.run(args, cli_settings)
    if args.command in ("eval", "evaluate"):
        from dgemma_lsp.evaluation.humaneval import run

        return run(args, cli_settings)
    if args.command == "bench":
        from dgemma_lsp.evaluation.bench.commands import run_bench

        return run_bench(args, cli_settings)
    if args.command == "infill":
        return infill.run(args, cli_settings)
    return fill_files.run_from_args(args, cli_settings)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the interpreter flushes it at exit, and would report a second broken pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout): nothing is flushed to a pipe
        pass


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="'embedded' (default), 'tiny', a checkpoint directory, or a Hugging Face id")
    parser.add_argument("--allow-download", action="store_true", help="let a Hugging Face id be downloaded")
    parser.add_argument("--settings", help="settings as JSON (same keys as initializationOptions)")
    parser.add_argument("--log-file", help="log here instead of stderr (never stdout: stdio carries LSP)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _cli_settings(args) -> dict:
    try:
        settings = json.loads(args.settings) if args.settings else {}
    except ValueError as error:
        print(f"dgemma-lsp: --settings is not JSON: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if not isinstance(settings, dict):
        raise SystemExit("--settings must be a JSON object")
    if args.model:
        settings["model"] = args.model
    if args.allow_download:
        settings["allowDownload"] = True
    return settings


def _configure_logging(log_file: str | None, level: str) -> None:
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The HTTP client's own lines add nothing to `remote`'s and must never carry a request's headers (the API key).
    for noisy in ("pygls", "transformers", "httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _serve(args, cli_settings: dict) -> int:
    from dgemma_lsp.lsp.server import create_server

    server = create_server(cli_settings=cli_settings)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return server.exit_code or 0  # `exit` after `shutdown` is 0, without it 1; a framing error is 1


if __name__ == "__main__":
    sys.exit(main())


def _fixed_mmap_threshold(threshold: int = 128 * 1024) -> None:
    """Large allocations (KV caches, activations) from their own memory maps, returned to the system when freed.

    glibc raises its mmap threshold each time a mapped block is freed (up to 32 MB), so after the first fills most
    tensors come from the heap, which fragments and never shrinks: the embedded model's peak RSS over 8 fills was
    1.46 GB with bfloat16 matmuls, 1.25 GB with the threshold fixed (`mallopt(M_MMAP_THRESHOLD)`; fp32 1.40 and
    1.37 GB). A no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, threshold)


_M_MMAP_THRESHOLD = -3
