"""How well and how fast: HumanEval-Infilling scored in a sandbox (`dgemma-lsp eval`) and the benchmarks
(`dgemma-lsp bench`)."""
