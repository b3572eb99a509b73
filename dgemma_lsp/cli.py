"""Command line: `dgemma-lsp serve` (LSP over stdio or TCP), `dgemma-lsp fill` (headless stub filling) and
`dgemma-lsp evaluate` (HumanEval infilling scores)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dgemma-lsp", description="Code infilling with DiffusionGemma.")
    parser.add_argument("--version", action="version", version=f"dgemma-lsp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    _common(serve)

    fill = commands.add_parser("fill", help="fill stub functions in files or directories, headless")
    fill.add_argument("paths", nargs="+")
    fill.add_argument("--write", action="store_true", help="write the filled files (atomically) instead of a diff")
    _common(fill)

    evaluate = commands.add_parser("evaluate", help="score fills on HumanEval infilling (pass@1, exact match, ...)")
    from .evaluation import add_arguments

    add_arguments(evaluate)
    _common(evaluate)
    evaluate.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the progress lines

    args = parser.parse_args(argv)
    # Passive OpenMP waiting (read when torch loads): spinning threads made small ops ~80x slower on a busy box.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _configure_logging(args.log_file, args.log_level)
    cli_settings = _cli_settings(args)
    if args.command == "serve":
        return _serve(args, cli_settings)
    if args.command == "evaluate":
        from .evaluation import run

        return run(args, cli_settings)
    from .headless import fill_paths

    return fill_paths(args.paths, cli_settings, write=args.write)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="'embedded' (default), 'tiny', a checkpoint directory, or a Hugging Face id")
    parser.add_argument("--allow-download", action="store_true", help="let a Hugging Face id be downloaded")
    parser.add_argument("--settings", help="settings as JSON (same keys as initializationOptions)")
    parser.add_argument("--log-file", help="log here instead of stderr (never stdout: stdio carries LSP)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _cli_settings(args) -> dict:
    settings = json.loads(args.settings) if args.settings else {}
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
    for noisy in ("pygls", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _serve(args, cli_settings: dict) -> int:
    from .server import create_server

    server = create_server(cli_settings=cli_settings)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
