"""One fill, from a document and a cursor to the text that goes in: where the hole is, the context and prompt
around it, guidance for the first tokens, the model call (in-process or on a server), post-processing and ranking.
Used alike by the language server, the headless commands and the evaluation."""
