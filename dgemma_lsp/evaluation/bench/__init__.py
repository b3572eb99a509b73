"""Benchmarks that print figures and write JSON + PNG: `dgemma-lsp bench lsp` (the server as an editor sees it),
`dgemma-lsp bench load` (a request per keystroke: stale answers and memory growth) and `dgemma-lsp bench engine`
(diffusion against autoregressive decoding with the same weights).

They are measurements, not tests: figures move with the machine and its load, so each run records the machine,
its load average and the command, and comparisons are made inside one run (side by side, medians and ratios).
"""
