"""Fills without an editor, for scripts and CI: `dgemma-lsp fill` over files and folders (targets, verification,
atomic writes, reports) and `dgemma-lsp infill` over JSONL rows."""
