"""The chat-template infilling prompt, and the middle read back from a chat model's answer.

For instruction-tuned checkpoints without FIM tokens (`google/diffusiongemma-26B-A4B-it`): prefix and suffix go into
one user turn around a marker. A local checkpoint renders the turn with its tokenizer (`prompts.ChatFormat`); a
server renders it with its own template (`remote.py`, `/chat/completions`).
"""

from __future__ import annotations

import re

HOLE_MARKER = "<|fill|>"
_INSTRUCTION = (
    "Fill in the code at {marker} in this {language} file. Reply with only the code that replaces {marker}: "
    "no explanation, no repetition of the surrounding code.\n\n```{fence}\n{prefix}{marker}{suffix}\n```"
)
_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)(?:\n?```\s*)?$", re.DOTALL)


def chat_messages(prefix: str, suffix: str, language: str | None) -> list[dict[str, str]]:
    """The one user turn that asks for the middle: prefix and suffix around a marker, in a fenced block. Local chat
    checkpoints render it with their tokenizer's template; a remote server (`remote.py`) with its own."""
    content = _INSTRUCTION.format(
        marker=HOLE_MARKER, language=language or "source", fence=language or "", prefix=prefix, suffix=suffix
    )
    return [{"role": "user", "content": content}]


def unfence(answer: str) -> str:
    """A chat answer's code: the body of a leading code fence (closed or not), else the answer itself."""
    match = _FENCE.match(answer)
    return match.group(1) if match else answer


def without_echo(middle: str, line_before: str) -> str:
    """A chat answer's middle less the cursor's line as typed, when the model wrote that line out again from its
    start (`    return x` for a cursor after `    return `): the user has typed it already. Indentation alone
    counts too; an answer that starts elsewhere is kept as it is."""
    if line_before and middle.startswith(line_before):
        return middle[len(line_before) :]
    typed = line_before.lstrip(" \t")
    if typed and middle.lstrip(" \t").startswith(typed):
        return middle.lstrip(" \t")[len(typed) :]
    return middle
