"""What to fill: the kind of hole at the cursor and the text span it replaces.

Offsets here are Python string indices (code points) into the document text; LSP positions are converted to and
from them only in `documents.py`, through the UTF-16 position codec.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FillKind(enum.Enum):
    NONE = "none"  # nothing sensible to fill here (the syntax says so)
    LINE = "line"  # the rest of the current line
    BLOCK = "block"  # one or more whole lines: a block, a function body, a selection


@dataclass(frozen=True)
class Hole:
    """A span of the document to be replaced by generated text.

    `start == end` for a cursor; a code action on a stub replaces the stub statement(s), so `start < end`.
    `indent` is the indentation the filled lines must carry (the hole's own line indentation, or the body's).
    """

    kind: FillKind
    start: int
    end: int
    indent: str = ""

    @property
    def is_empty(self) -> bool:
        return self.kind is FillKind.NONE
