"""dgemma-lsp: code infilling with DiffusionGemma block diffusion, served over LSP."""

__version__ = "0.1.0"
