"""Turn the raw model output for a hole into the text to insert.

`postprocess` runs small steps, each a plain function tested on its own:
normalise -> keep the hole's kind -> drop what already follows -> indent -> balance brackets -> syntax cut -> finish.
Offsets are Python str indices (code points), as in `holes.py`. The fill is handled with "\n" line ends
internally; `finish_fill` puts in the document's own line endings last.
"""

from __future__ import annotations

import re
from collections import Counter

from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.text.brackets import CLOSERS, balance_brackets, depth_profile
from dgemma_lsp.text.syntax import error_count, is_word_char, language_named, python_compiles

MAX_WINDOW_LINES = 200  # how far the syntax window reaches each way when no top-level line bounds it
MAX_LINE_CUTS = 12  # candidate cuts tried for a one-line fill (each costs one parse of the window)
_COMMENT_STARTS = ("#", "//", "/*", "*")
_CONTINUATION = re.compile(r"(else|elif|except|finally|catch)\b")  # lines that continue the statement above
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Keywords that open a Python block as the first word of a line (`needs.py` starts fills with them).
PYTHON_BLOCK_OPENERS = (
    "if",
    "elif",
    "else",
    "for",
    "while",
    "with",
    "def",
    "class",
    "try",
    "except",
    "finally",
    "async",
)
_PYTHON_HEADER = re.compile(rf"(?:{'|'.join(PYTHON_BLOCK_OPENERS)})\b")


# -- normalising ---------------------------------------------------------------------------------------------


def document_newline(text: str) -> str:
    """The document's line ending, judged by its first line."""
    i = text.find("\n")
    return "\r\n" if i > 0 and text[i - 1] == "\r" else "\n"


def normalize(fill: str, *, keep_last_space: bool = False) -> str:
    """ "\n" line ends, no trailing whitespace on any line, no trailing blank lines.

    `keep_last_space` keeps the last line's trailing spaces: when code follows the hole on its line, the space the
    model put before it separates the two (`a = |b` filled with `1 + ` must not give `1 +b`).
    """
    lines = fill.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    last = lines[-1]
    lines = [line.rstrip() for line in lines]
    if keep_last_space and last.strip():
        lines[-1] = last
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def keep_kind(fill: str, kind: FillKind) -> str:
    """A LINE hole takes only the first line of the fill; a BLOCK hole takes them all."""
    if kind is FillKind.NONE:
        return ""
    return _NEWLINE.split(fill, 1)[0] if kind is FillKind.LINE else fill


# -- indentation ---------------------------------------------------------------------------------------------


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(ws: str, tab: int = 4) -> int:
    return sum(tab if c == "\t" else 1 for c in ws)


def indent_style(text: str) -> tuple[bool, int]:
    """(indents with tabs, spaces per level) of a document: the commoner of tabs/spaces and the commonest step
    up between consecutive lines; (False, 4) when it cannot tell."""
    tabs = spaces = prev = 0
    steps: Counter[int] = Counter()
    for line in text.splitlines():
        if not line.strip():
            continue
        ws = indent_of(line)
        tabs += ws.startswith("\t")
        spaces += ws.startswith(" ")
        width = indent_width(ws)
        if width > prev:
            steps[width - prev] += 1
        prev = width
    unit = steps.most_common(1)[0][0] if steps else 4
    return tabs > spaces, unit if 2 <= unit <= 8 else 4


def opens_block(line: str) -> bool:
    """Whether a line ends by opening a block or bracket, so the next line belongs one level deeper."""
    return line.rstrip().endswith((":", "{", "(", "["))


def block_style(text: str, hole: Hole) -> tuple[bool, int]:
    """(tabs, spaces per level) for a block hole's lines: the hole's own indentation says tabs or spaces where it
    has one, the lines around it say the rest. Only the lines near the hole are read: scanning a whole 5,000-line
    file cost ~50 ms a fill."""
    doc_tabs, unit = indent_style(text[max(0, hole.start - 20_000) : hole.end + 20_000])
    return ("\t" in hole.indent if hole.indent else doc_tabs), unit


def opened_body_indent(text: str, hole: Hole, style: tuple[bool, int] | None = None) -> str | None:
    """The indentation of a body that a block hole opens on its opener's line (`def f():|`, `{|}`, a brace stub's
    `{` + its lines), whose first line the fill must start; None for any other hole. The body sits one level
    below the opening line, whatever the hole's own indentation says. `style`: `block_style`, where the caller
    has it already."""
    if hole.kind is not FillKind.BLOCK:
        return None
    line_before = text[_line_start(text, hole.start) : hole.start]
    after_line = text[hole.end : _line_end(text, hole.end)].rstrip("\r")
    if not opens_block(line_before) or after_line.strip()[:1] not in ("", *CLOSERS):
        return None
    line_indent = indent_of(line_before)
    if indent_width(hole.indent) > indent_width(line_indent):
        return hole.indent
    tabs, unit = style or block_style(text, hole)
    return line_indent + ("\t" if tabs else " " * unit)


FRAMES = ("file", "relative", "shallowest")  # readings of a fill's indentation, preferred first


def reindent(
    fill: str, *, line_before: str, indent: str, tabs: bool = False, unit: int = 4, frame: str = "file"
) -> str:
    """Move the fill's lines to where they belong, under one reading (`frame`) of the model's indentation.

    - "file": a FIM model writes in the file's frame: after `line_before` (the text before the hole on its line)
      when the hole is mid-line or after the indentation, else with its own indentation. The first non-blank
      line is the anchor, so a fill that ends by leaving its block (`return False` after a loop) stays right.
    - "relative": a first line that continues `line_before` sat at column 0 in the model's frame (an answer that
      starts a fresh code block), so later lines move right by the statement's indentation.
    - "shallowest": the indentation is not to be trusted; the shallowest later line goes to `indent`, keeping
      relative offsets, one level deeper when the first line opens a block that no later line leaves.
    An empty `line_before` (a whole-line hole at column 0) keeps the fill's own indentation in the file frame and
    moves the first line's to `indent` in the others; a whitespace-only one strips the first line's extra leading
    whitespace. With `tabs`,
    indentation is written in tabs (a tab is `unit` columns wide).
    """
    lines = fill.split("\n")
    whole_line = line_before == ""
    if not whole_line and not line_before.strip():
        lines[0] = lines[0].lstrip()
    body = range(0 if whole_line else 1, len(lines))
    widths = {i: indent_width(indent_of(lines[i]), unit) for i in body if lines[i].strip()}
    if not widths:
        return "\n".join(line if i == 0 and not whole_line else "" for i, line in enumerate(lines))
    target = indent_width(indent, unit)
    anchor = min(widths)
    if frame == "shallowest":
        shallowest = min(widths.values())
        if not whole_line and opens_block(lines[0]) and widths[anchor] == shallowest:
            target += unit
        shift = target - shallowest
    elif frame == "file" and whole_line:
        shift = 0  # a whole line written in the file's frame carries its own indentation
    elif anchor == 0 or not lines[0].strip():
        shift = target - widths[anchor]  # whole-line hole, or a blank first line: the anchor goes to `indent`
    elif frame == "relative":
        shift = indent_width(indent_of(line_before) if line_before.strip() else line_before, unit)
    else:
        shift = 0
    # Untrusted indentation keeps only its steps: each step of the fill's own (2 spaces, a tab) is one level.
    step = min((w - b for w in widths.values() for b in [min(widths.values())] if w > b), default=unit)
    for i in body:
        if i not in widths:
            lines[i] = ""
            continue
        if frame == "shallowest" and tabs:
            rel = widths[i] - min(widths.values())
            pad = indent_of(indent) + ("\t" if target > indent_width(indent, unit) else "") + "\t" * (rel // step)
            pad += " " * (rel % step)
        else:
            width = max(0, widths[i] + shift)
            pad = "\t" * (width // unit) + " " * (width % unit) if tabs else " " * width
        lines[i] = pad + lines[i].lstrip(" \t")
    return "\n".join(lines)


# -- what already follows ------------------------------------------------------------------------------------


def drop_overlap(fill: str, after_line: str, *, language: str | None = None) -> str:
    """Remove the longest end of the fill that repeats the start of `after_line` (the rest of the hole's line).

    The overlap must start and end on token boundaries, and must not close a bracket the kept fill opened
    (`print(|)` filled with `foo(x)` keeps its `)`). A fill equal to the rest of the line gives "".
    """
    if fill.strip() and fill.strip() == after_line.strip():
        return ""
    depth: list[int] | None = None
    for k in range(min(len(fill), len(after_line)), 0, -1):
        piece, cut = after_line[:k], len(fill) - k
        if not piece.strip() or not fill.endswith(piece):
            continue
        if is_word_char(piece[0]) and cut and is_word_char(fill[cut - 1]):
            continue
        if is_word_char(piece[-1]) and k < len(after_line) and is_word_char(after_line[k]):
            continue
        depth = depth or depth_profile(fill, language)
        if min(depth[cut:]) >= depth[cut]:  # the dropped part closes none of the kept part's brackets
            return fill[:cut]
    return fill


def following_lines(text: str, pos: int, count: int) -> list[str]:
    """The first `count` non-blank lines from `pos` on (the rest of its line first), stripped."""
    out: list[str] = []
    while len(out) < count and pos <= len(text):
        j = text.find("\n", pos)
        j = len(text) if j < 0 else j
        if line := text[pos:j].strip():
            out.append(line)
        pos = j + 1
    return out


def drop_repeated_lines(fill: str, following: list[str], *, language: str | None = None) -> str:
    """Drop the fill's last lines when they repeat (stripped) the non-blank lines that follow the hole,
    unless they close a bracket the kept lines opened (a `}` ending the fill's own `if` stays)."""
    lines = fill.split("\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    depth: list[int] | None = None
    for k in range(min(len(nonblank), len(following)), 0, -1):
        first = nonblank[-k]
        if [lines[i].strip() for i in nonblank[-k:]] != following[:k]:
            continue
        cut = sum(len(line) + 1 for line in lines[:first])
        depth = depth or depth_profile(fill, language)
        if min(depth[cut:]) >= depth[cut]:  # the dropped part closes none of the kept part's brackets
            return "\n".join(lines[:first])
    return fill


# -- syntax ------------------------------------------------------------------------------------------------


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    j = text.find("\n", pos)
    return len(text) if j < 0 else j


def _starts_statement(line: str) -> bool:
    """A line that can begin a statement: not blank, a comment, a closing bracket or an `else`-like word."""
    s = line.lstrip()
    return bool(s) and not s.startswith(_COMMENT_STARTS) and s[0] not in CLOSERS and not _CONTINUATION.match(s)


def syntax_window(text: str, start: int, end: int, max_lines: int = MAX_WINDOW_LINES) -> tuple[int, int]:
    """The span of the document parsed to judge a fill, as (start, end) offsets at line starts.

    Back: the last statement line at the least indentation seen (normally column 0, the top-level statement that
    holds the hole), looking at most `max_lines` lines back; the file start when reached. Forward: up to the next
    statement line at that indentation or less, at most `max_lines` lines on. Text at column 0 inside a
    multi-line string can end the window early (a limitation of judging by lines).
    """
    pos = _line_start(text, start)
    best, level = pos, None
    for _ in range(max_lines + 1):
        line = text[pos : _line_end(text, pos)]
        if _starts_statement(line) and (level is None or indent_width(indent_of(line)) < level):
            best, level = pos, indent_width(indent_of(line))
            if level == 0:
                break
        if pos == 0:
            best, level = 0, 0
            break
        pos = _line_start(text, pos - 1)
    level = level or 0
    # A span that consumed its newline ends at a line start: that next line may already end the window.
    pos = end if end > start and text[end - 1] == "\n" else _line_end(text, end) + 1
    for _ in range(max_lines):
        if pos >= len(text):
            return best, len(text)
        line = text[pos : _line_end(text, pos)]
        if line.strip() and not line.lstrip().startswith(_COMMENT_STARTS):
            width = indent_width(indent_of(line))
            if width < level or (width == level and _starts_statement(line)):
                return best, pos
        pos = _line_end(text, pos) + 1
    return best, min(pos, len(text))


def window_around(
    text: str, start: int, end: int, language: str | None, window: tuple[int, int] | None = None
) -> tuple[str, str]:
    """The text of `window` (by default `syntax_window`) before `start` and after `end`: what a fill of that span
    is parsed between."""
    wstart, wend = window or syntax_window(text, start, end)
    # A Python window that starts indented (no top-level line near) needs a block to sit in; `def` allows return.
    header = "def _():\n" if language == "python" and text[wstart : wstart + 1] in (" ", "\t") else ""
    return header + text[wstart:start], text[end:wend]


def stand_in(code: str, *, text: str, hole: Hole) -> str:
    """One line of `code` as the hole's fill would be inserted: indented when the cursor sits at column 0."""
    indent = "" if text[_line_start(text, hole.start) : hole.start] else hole.indent
    return finish_fill(indent + code, text=text, hole=hole)


def _baseline_compiles(before: str, after: str, *, text: str, hole: Hole) -> bool:
    """Whether the Python around the hole compiles: with nothing in it, with the text it replaces (a stub), with
    `pass` in it (an empty body does not compile, yet the code around it may be fine), or with a block opener
    (the line above an indented block)."""
    stand_ins = [stand_in(code, text=text, hole=hole) for code in ("pass", "if True:")]
    fillings = ("", text[hole.start : hole.end], *stand_ins)
    return any(python_compiles(before + filling + after) for filling in dict.fromkeys(fillings))


def _is_boundary(s: str, i: int) -> bool:
    """A token-ish place to cut a line: before a space, or next to punctuation."""
    return s[i].isspace() or not (is_word_char(s[i]) and is_word_char(s[i - 1]))


def cut_candidates(fill: str, kind: FillKind, limit: int = MAX_LINE_CUTS) -> list[str]:
    """Leading parts of the fill to try, longest first, never empty: line ends for a BLOCK; for a LINE the whole
    line, then shorter cuts at token boundaries, spread evenly when there are more than `limit`."""
    if kind is FillKind.BLOCK:
        lines = fill.split("\n")
        parts = [fill] + ["\n".join(lines[:k]).rstrip() for k in range(len(lines) - 1, 0, -1)]
    else:
        cuts = [fill[:i].rstrip() for i in range(len(fill) - 1, 0, -1) if _is_boundary(fill, i)]
        cuts = [c for c in dict.fromkeys(cuts) if c.strip() and c != fill]
        if len(cuts) > limit - 1:
            cuts = [cuts[round(j * (len(cuts) - 1) / (limit - 2))] for j in range(limit - 1)]
        parts = [fill] + cuts
    return [p for p in dict.fromkeys(parts) if p.strip()]


def truncate_to_syntax(
    fill: str, *, text: str, hole: Hole, language: str, window: tuple[int, int] | None = None
) -> str:
    """The leading part of the fill after which the file parses no worse than with no fill at all.

    "No worse": no more tree-sitter errors than the baseline (the user may be mid-edit, so it can have some);
    for Python the result must also compile when the baseline does (or the text the hole replaces did). Among
    acceptable parts the one with the fewest errors wins, then the longest; nothing acceptable gives "".
    Only `window` (by default `syntax_window`) is parsed, so a 5,000-line file costs a few hundred lines a try.
    """
    before, after = window_around(text, hole.start, hole.end, language, window)
    best, best_errors = "", error_count(before + after, language)
    must_compile = language == "python" and _baseline_compiles(before, after, text=text, hole=hole)
    for part in (p for cut in cut_candidates(fill, hole.kind) for p in with_repairs(cut, language)):
        source = before + finish_fill(part, text=text, hole=hole) + after
        errors = error_count(source, language)
        if errors < best_errors or (errors == best_errors and not best):
            if must_compile and not python_compiles(source):
                continue
            best, best_errors = part, errors
            if errors == 0:
                break  # candidates come longest first, so nothing later can beat this
    return best


def with_repairs(part: str, language: str | None) -> list[str]:
    """The part, after its repaired form where one applies: a Python block header without its colon (`if x`,
    `else`) gets one. The repaired form comes first, so it wins where both parse."""
    if language == "python":
        last_line = part.rstrip().rsplit("\n", 1)[-1].lstrip()
        if _PYTHON_HEADER.match(last_line) and not last_line.endswith(":"):
            return [part.rstrip() + ":", part]
    return [part]


# -- the pipeline ------------------------------------------------------------------------------------------


def finish_fill(part: str, *, text: str, hole: Hole) -> str:
    """The text to insert for a processed fill: "" when only whitespace is left; otherwise ended so that what
    follows the hole stays on its own line, with the document's line endings."""
    if not part.strip():
        return ""
    line_end = _line_end(text, hole.end)
    after_line = text[hole.end : line_end].rstrip("\r")
    # A line end after the fill puts what follows on a line of its own: the space kept for it (`normalize`'s
    # `keep_last_space`) would be left trailing.
    if hole.end > hole.start and text[hole.end - 1] == "\n":
        part = part.rstrip(" \t") + "\n"  # the hole swallowed a line end: give it back
    elif "\n" in part and after_line.strip()[:1] in tuple(CLOSERS):
        # `{|}` filled with lines: the `}` goes on its own line at the indentation of the line that opened it.
        part = part.rstrip(" \t") + "\n" + indent_of(text[_line_start(text, hole.start) : line_end])
    elif hole.kind is FillKind.BLOCK and hole.start == _line_start(text, hole.start) and after_line.strip():
        part = part.rstrip(" \t") + "\n"  # lines inserted at column 0 before existing code
    newline = document_newline(text)
    return part.replace("\n", newline) if newline != "\n" else part


def _code_length(fill: str) -> int:
    return sum(len(word) for word in fill.split())


def _off_grid_lines(fill: str, line_before: str, unit: int, tabs: bool) -> int:
    """Lines whose indentation is not a whole number of the file's indentation units (a tie-break)."""
    lines = fill.split("\n")
    if line_before:
        lines = lines[1:]  # the first line continues `line_before`; its own indentation is not the fill's
    return sum(1 for line in lines if line.strip() and not tabs and indent_width(indent_of(line), unit) % unit)


def _outdented_lines(fill: str, indent: str, unit: int) -> int:
    """Later lines left of the hole's block that do not close a bracket. Only a tie-break where indentation does
    not change the parse (brace languages): there, a body line left of its block is the model's frame misread."""
    limit = indent_width(indent, unit)
    return sum(
        1
        for line in fill.split("\n")[1:]
        if line.strip() and line.lstrip()[0] not in CLOSERS and indent_width(indent_of(line), unit) < limit
    )


def postprocess(fill: str, *, text: str, hole: Hole, language: str | None) -> str:
    """The text to insert in place of text[hole.start:hole.end] for the model's raw output `fill`; "" for none."""
    if hole.kind is FillKind.NONE:
        return ""
    line_before = text[_line_start(text, hole.start) : hole.start]
    after_line = text[hole.end : _line_end(text, hole.end)].rstrip("\r")
    keep_space = bool(after_line[:1].strip())
    fill = normalize(keep_kind(fill, hole.kind), keep_last_space=keep_space)
    # Duplicates go first: a repeated closing line must not count when finding the fill's shallowest line.
    fill = drop_overlap(fill, after_line, language=language)
    if hole.kind is FillKind.BLOCK and fill.strip():
        fill = drop_repeated_lines(fill, following_lines(text, hole.end, fill.count("\n") + 1), language=language)
        fill = normalize(fill, keep_last_space=keep_space)
    tabs, unit, indent = False, 4, hole.indent
    if hole.kind is FillKind.BLOCK:
        tabs, unit = block_style(text, hole)
        body = opened_body_indent(text, hole, (tabs, unit))
        if body is not None and fill.strip():
            fill = fill if fill.startswith("\n") else "\n" + fill
            indent = body
    wstart, wend = syntax_window(text, hole.start, hole.end)
    checked = language is not None and language_named(language) is not None
    best, best_score = "", None  # the loop below runs at least once
    # Three readings of the fill's indentation (`FRAMES`, see `reindent`): the syntax decides; ties go to the earlier.
    ambiguous = checked and ("\n" in fill.strip("\n") or not line_before)  # several lines, or a whole-line hole
    for frame in FRAMES if ambiguous else FRAMES[:1]:
        framed = reindent(fill, line_before=line_before, indent=indent, tabs=tabs, unit=unit, frame=frame)
        framed = balance_brackets(
            framed, before=text[wstart : hole.start], after=text[hole.end : wend], language=language
        )
        framed = normalize(framed, keep_last_space=keep_space)
        if checked and language is not None and framed.strip():
            framed = truncate_to_syntax(framed, text=text, hole=hole, language=language, window=(wstart, wend))
        score = (
            _code_length(framed),
            -_outdented_lines(framed, indent, unit) if language != "python" else 0,
            -_off_grid_lines(framed, line_before, unit, tabs),
        )
        if best_score is None or score > best_score:  # more code kept; ties keep the earlier frame
            best, best_score = framed, score
    return finish_fill(best, text=text, hole=hole)
