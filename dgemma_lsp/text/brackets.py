"""Brackets outside strings and comments: a small scanner, and the rule that cuts a fill at a closer nothing may
close."""

from __future__ import annotations

import re
from itertools import accumulate

OPENERS, CLOSERS = "([{", ")]}"
PAIRS = dict(zip(CLOSERS, OPENERS))
_C_LIKE = {"javascript", "typescript", "tsx", "go", "rust"}
_RUST_CHAR = re.compile(r"'(?:\\[^'\n]{1,10}|[^\\'\n])'")  # a char literal; any other ' starts a lifetime
_SIGNIFICANT = re.compile(r"""[()\[\]{}"'`#/]""")  # brackets, quotes, comment starts: all else is skipped in code


def scan_brackets(src: str, language: str | None, state: str | None = None) -> tuple[list[tuple[int, str]], str | None]:
    """The brackets of `src` outside strings and comments, as (index, char), and the state at its end.

    `state` is None in code, else the open delimiter: a quote, "/*", or a line comment marker. A simple scanner:
    it does not know raw strings (r#"..."#), `${}` inside JS template literals, JS regex literals, or nested
    Rust block comments, and a Python triple-quoted string that starts outside the scanned text is missed.
    """
    python, c_like = language == "python", language in _C_LIKE
    quotes = ('"""', "'''", '"', "'") if python else ('"', "'", "`") if c_like else ('"', "'")
    line_comment = "#" if python else "//" if c_like else None
    events: list[tuple[int, str]] = []
    i, n = 0, len(src)
    while i < n:
        if state is None:
            # Jump to the next character that can matter: a 200-line window is scanned per candidate cut.
            found = _SIGNIFICANT.search(src, i)
            if found is None:
                break
            i = found.start()
            ch = src[i]
            if ch in OPENERS or ch in CLOSERS:
                events.append((i, ch))
            elif line_comment and src.startswith(line_comment, i):
                state = line_comment
            elif c_like and src.startswith("/*", i):
                state, i = "/*", i + 1
            elif ch == "'" and language == "rust" and not _RUST_CHAR.match(src, i):
                pass  # a lifetime such as 'a
            else:
                q = next((q for q in quotes if src.startswith(q, i)), None)
                if q:
                    state, i = q, i + len(q) - 1
            i += 1
        elif state in ("#", "//"):
            j = src.find("\n", i)
            state, i = (None, j + 1) if j >= 0 else (state, n)
        elif state == "/*":
            j = src.find("*/", i)
            state, i = (None, j + 2) if j >= 0 else (state, n)
        elif src[i] == "\\" and not (state == "`" and language == "go"):  # Go's `raw` strings have no escapes
            i += 2
        elif src.startswith(state, i):
            i += len(state)
            state = None
        else:
            if src[i] == "\n" and state in ('"', "'"):
                state = None  # single-line strings end at the line end even when unterminated
            i += 1
    return events, state


def depth_profile(fill: str, language: str | None) -> list[int]:
    """depth[i]: how many of the fill's own openers are open before fill[i]; one entry more than the fill.
    Dropping fill[cut:] leaves the kept part's brackets alone iff min(depth[cut:]) >= depth[cut]."""
    stack: list[str] = []
    change = [0] * (len(fill) + 1)
    for i, ch in scan_brackets(fill, language)[0]:
        if ch in OPENERS:
            stack.append(ch)
            change[i + 1] = 1
        elif stack and stack[-1] == PAIRS[ch]:
            stack.pop()
            change[i + 1] = -1
    return list(accumulate(change))


def balance_brackets(fill: str, *, before: str, after: str, language: str | None) -> str:
    """Cut the fill at its first closing bracket that nothing may close.

    A closer may close the fill's own opener, or an opener left open in `before` (the statement so far) that
    `after` (the rest of the statement) does not close itself; anything else ends the fill there.
    """
    stack_events, state = scan_brackets(before, language)
    stack: list[str] = []
    for _, ch in stack_events:
        if ch in OPENERS:
            stack.append(ch)
        elif stack and stack[-1] == PAIRS[ch]:
            stack.pop()
    # The fill comes first, so it closes the innermost openers; `after` closes as many as it has spare closers.
    depth, spare = 0, 0
    for _, ch in scan_brackets(after, language, state)[0]:
        if ch in OPENERS:
            depth += 1
        elif depth:
            depth -= 1
        else:
            spare += 1
    available = stack[spare:]
    own: list[str] = []
    for i, ch in scan_brackets(fill, language, state)[0]:
        if ch in OPENERS:
            own.append(ch)
        elif own and own[-1] == PAIRS[ch]:
            own.pop()
        elif not own and available and available[-1] == PAIRS[ch]:
            available.pop()
        else:
            return fill[:i]
    return fill
