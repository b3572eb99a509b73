"""Two ways to ask a checkpoint for the middle of a hole, behind one interface.

- `FimFormat`, for checkpoints trained with fill-in-the-middle tokens (the embedded model): suffix first, then
  prefix, then `<fim_middle>`; the canvas holds the middle. Suffix-first keeps the encoder cache valid while the
  user types at the cursor, since only tokens at the end of the prompt change.
- `PrefixFormat`, for a pretrained causal LM not yet taught fill-in-the-middle (the embedded model converted from
  Gemma 3): `<bos>` and the prefix, so the model continues the text as it was trained to; the suffix still guides
  hole choice, syntax clamps and post-processing.
- `ChatFormat`, for instruction-tuned checkpoints without FIM tokens (`google/diffusiongemma-26B-A4B-it`): prefix
  and suffix go into the user turn around a marker; the model's answer is the middle, code fences stripped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dgemma_lsp.diffusion.chat import chat_messages, unfence
from dgemma_lsp.diffusion.tokens import BOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX
from dgemma_lsp.errors import ModelLoadError


def fim_prompt_ids(prefix_ids: list[int], suffix_ids: list[int], ids: dict[str, int]) -> list[int]:
    """The infill prompt, suffix first (SPM): [<bos>, <fim_suffix>, suffix, <fim_prefix>, prefix, <fim_middle>].

    `FimFormat` builds prompts with this one function (the retired from-scratch model was trained on it). Suffix
    first keeps the encoder cache valid while the user types at the cursor: only the tail of the prefix changes,
    and it comes last.
    """
    return [ids[BOS], ids[FIM_SUFFIX], *suffix_ids, ids[FIM_PREFIX], *prefix_ids, ids[FIM_MIDDLE]]


class PromptFormat(ABC):
    name: str
    answers_in_place = True  # the first generated token starts the middle (no preamble, no code fence)
    reads_suffix = True  # the prompt holds the text after the hole

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    @abstractmethod
    def prompt_ids(
        self, prefix: str, suffix: str, language: str | None, encoded: tuple[list[int], list[int]] | None = None
    ) -> list[int]:
        """Token ids the encoder reads before the first canvas. `encoded`: (prefix ids, suffix ids) when the caller
        has tokenized them already (`canvas.collect_context` has), so they are not tokenized twice."""

    def extract(self, generated: str) -> str:
        """The middle, from the decoded canvases (EOS already cut)."""
        return generated


class FimFormat(PromptFormat):
    name = "fim"

    def __init__(self, tokenizer) -> None:
        super().__init__(tokenizer)
        ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (BOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)}
        if any(i is None or i == tokenizer.unk_token_id for i in ids.values()):
            raise ModelLoadError("the tokenizer has no fill-in-the-middle tokens; use promptFormat 'chat'")
        self.ids = ids

    def prompt_ids(
        self, prefix: str, suffix: str, language: str | None, encoded: tuple[list[int], list[int]] | None = None
    ) -> list[int]:
        prefix_ids, suffix_ids = encoded or (self.encode(prefix), self.encode(suffix))
        return fim_prompt_ids(prefix_ids, suffix_ids, self.ids)


class PrefixFormat(PromptFormat):
    name = "prefix"
    reads_suffix = False

    def __init__(self, tokenizer) -> None:
        super().__init__(tokenizer)
        if tokenizer.bos_token_id is None:
            raise ModelLoadError("the tokenizer has no <bos> token for a prefix prompt")

    def prompt_ids(
        self, prefix: str, suffix: str, language: str | None, encoded: tuple[list[int], list[int]] | None = None
    ) -> list[int]:
        prefix_ids = encoded[0] if encoded else self.encode(prefix)
        return [self.tokenizer.bos_token_id, *prefix_ids]


class ChatFormat(PromptFormat):
    name = "chat"
    answers_in_place = False

    def __init__(self, tokenizer) -> None:
        super().__init__(tokenizer)
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError("the tokenizer has no chat template; use promptFormat 'fim'")

    def prompt_ids(
        self, prefix: str, suffix: str, language: str | None, encoded: tuple[list[int], list[int]] | None = None
    ) -> list[int]:
        messages = chat_messages(prefix, suffix, language)
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # some tokenizers return a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    def extract(self, generated: str) -> str:
        return unfence(generated)


def prompt_format_for(tokenizer, wanted: str = "auto") -> PromptFormat:
    """The format asked for; for "auto", FIM when the tokenizer has FIM tokens, else chat. A clear error when the
    tokenizer cannot carry the format."""
    if wanted == "fim":
        return FimFormat(tokenizer)
    if wanted == "chat":
        return ChatFormat(tokenizer)
    if wanted == "prefix":
        return PrefixFormat(tokenizer)
    try:
        return FimFormat(tokenizer)
    except ModelLoadError:
        return ChatFormat(tokenizer)
