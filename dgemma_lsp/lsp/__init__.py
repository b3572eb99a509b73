"""The language server: JSON-RPC framing over stdio or TCP, the session (documents, queued fills, cancellation)
and one module per LSP feature in `features/`."""
