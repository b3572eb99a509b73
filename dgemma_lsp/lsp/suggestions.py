"""Inline suggestions as they were offered, kept so that typing into one needs no new fill: the editor asks again
at every keystroke, and the rest of the suggestion is the answer while the typed text matches it."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from dgemma_lsp.fill.ranking import Fill


@dataclass(frozen=True)
class Suggestion:
    """An inline suggestion as it was offered, kept so that typing into it needs no new fill."""

    uri: str
    before: str  # the document text before the hole
    after: str  # the document text from the hole on (what the suggestion was inserted before, or replaced)
    text: str
    replaced: int  # characters after the cursor that the suggestion replaces (hole end - hole start)

    def rest(self, uri: str, text: str, offset: int) -> str | None:
        """What is left of the suggestion when `text` is the old document with a proper prefix of the suggestion
        typed at the cursor (`offset`); None otherwise. Plain string comparisons: no per-request cost beyond a
        memory compare, whatever the file size."""
        typed_length = offset - len(self.before)
        if uri != self.uri or not 0 <= typed_length < len(self.text) or len(text) - offset != len(self.after):
            return None
        if not (text.startswith(self.before) and text.endswith(self.after)):
            return None
        return self.text[typed_length:] if self.text.startswith(text[len(self.before) : offset]) else None


class Suggestions:
    """The few most recent suggestions (one per recent cursor spot); the newest that fits answers."""

    KEPT = 8

    def __init__(self) -> None:
        self._recent: collections.deque[Suggestion] = collections.deque(maxlen=self.KEPT)

    def offered(self, uri: str, text: str, fill: Fill) -> None:
        """`fill` was shown in `text` (the document when the fill was planned)."""
        self._recent.append(Suggestion(uri, text[: fill.start], text[fill.start :], fill.text, fill.end - fill.start))

    def rest_at(self, uri: str, text: str, offset: int) -> tuple[str, int] | None:
        """The rest of a suggestion the user is typing into at `offset`, and how many characters after the cursor it
        replaces; None when none fits."""
        for suggestion in reversed(self._recent):
            rest = suggestion.rest(uri, text, offset)
            if rest:
                return rest, suggestion.replaced
        return None

    def clear(self) -> None:
        self._recent.clear()
