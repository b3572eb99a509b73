"""Drafts for greedy decoding, verified by the encoder: whatever a draft gets wrong costs time, never a token.

`greedy_branches` feeds a row's draft after its last token in one forward and keeps the drafted tokens up to the
first one its own choice disagrees with, plus that choice: the middle is greedy decoding's, token for token
(`autoregressive.py`), and each forward commits one token or more. Token for token as far as the arithmetic is:
with bfloat16 matmuls (`lean.pack_bfloat16`) a forward over several positions rounds a little differently from
one over a single position, and a near-tie can then go the other way.

`PromptLookup` drafts without a model: code repeats itself (a name defined above and used again, a call copied
with another argument, the lines after the cursor), so the tokens that followed the last few tokens' most recent
earlier occurrence are a cheap guess at what follows now (prompt lookup decoding; transformers'
`prompt_lookup_num_tokens`). Simulated on 120 greedy line fills of real 2026 Python it committed 1.9 tokens a
round (`../shared/notes/drafting.md`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Drafter(Protocol):
    def draft(self, written: Sequence[int], limit: int | None = None) -> list[int]:
        """A guess at the tokens after the prompt and `written` (a branch's tokens so far), at most `limit`."""
        ...


class PromptLookup:
    """Drafts of up to `tokens` tokens copied from the prompt, the row's own tokens, or `after` (the text after the
    hole): what followed the most recent earlier occurrence of the row's last n tokens, for the longest n from
    `longest` down to `shortest` that occurs. Earlier in the prompt or the row first; in `after`, the occurrence
    nearest the hole."""

    def __init__(
        self, prompt: Sequence[int], after: Sequence[int] = (), *, tokens: int = 3, longest: int = 4, shortest: int = 1
    ) -> None:
        if tokens < 1 or not 1 <= shortest <= longest:
            raise ValueError("a draft needs tokens >= 1 and 1 <= shortest <= longest")
        self.prompt, self.after = list(prompt), list(after)
        self.tokens, self.longest, self.shortest = tokens, longest, shortest
        # n-gram -> where its two latest occurrences in the prompt end (the latest may be the prompt's own end),
        # and where its first one in `after` ends
        self._in_prompt: dict[tuple[int, ...], tuple[int, int]] = {}
        self._in_after: dict[tuple[int, ...], int] = {}
        for n in range(shortest, longest + 1):
            for end in range(n, len(self.prompt) + 1):
                key = tuple(self.prompt[end - n : end])
                self._in_prompt[key] = (end, self._in_prompt.get(key, (0, 0))[0])
            for end in range(len(self.after), n - 1, -1):
                self._in_after[tuple(self.after[end - n : end])] = end

    def draft(self, written: Sequence[int], limit: int | None = None) -> list[int]:
        """The draft after the prompt and `written` (the row's tokens so far), at most `limit` tokens."""
        wanted = self.tokens if limit is None else min(self.tokens, limit)
        if wanted < 1:
            return []
        text = self.prompt + list(written)
        for n in range(min(self.longest, len(text)), self.shortest - 1, -1):
            key = tuple(text[-n:])
            # The latest occurrence ending inside what the row wrote (before its very end), then in the prompt.
            for end in range(len(text) - 1, max(len(self.prompt) + 1, n) - 1, -1):
                if tuple(text[end - n : end]) == key:
                    return text[end : end + wanted]
            latest, previous = self._in_prompt.get(key, (0, 0))
            end = latest if latest < len(text) else previous
            if end:
                return text[end : end + wanted]
            end = self._in_after.get(key, 0)
            if end and end < len(self.after):
                return self.after[end : end + wanted]
        return []
