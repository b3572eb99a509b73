"""Source text: documents with LSP positions (the UTF-16 codec), tree-sitter parsing and queries, bracket
scanning, cheap lint checks, and the files a folder walk yields. Knows nothing of models."""
