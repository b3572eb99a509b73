from dgemma_lsp.pipeline import Fill, rank_by_syntax

SOURCE = "def total(xs):\n    \n    return s\n"
HOLE = SOURCE.index("    \n") + 4


def fill(text: str) -> Fill:
    return Fill(text, HOLE, HOLE, text)


def test_a_candidate_that_keeps_the_file_parseable_comes_first():
    broken, good = fill("s = sum(xs"), fill("s = sum(xs)")
    assert rank_by_syntax([broken, good], SOURCE, "python") == [good, broken]


def test_sampling_order_is_kept_among_equals():
    first, second, broken = fill("s = sum(xs)"), fill("s = 0"), fill("s = [")
    assert rank_by_syntax([broken, first, second], SOURCE, "python") == [first, second, broken]


def test_nothing_is_dropped_and_a_broken_file_is_the_baseline():
    source = "def f(:\n    \n"  # already broken: a fill that keeps it as broken is no worse
    hole = source.index("    \n") + 4
    fills = [Fill("x = (", hole, hole, ""), Fill("x = 1", hole, hole, "")]
    ranked = rank_by_syntax(fills, source, "python")
    assert sorted(f.text for f in ranked) == ["x = (", "x = 1"]
    assert ranked[0].text == "x = 1"


def test_unknown_language_and_single_candidates_are_left_alone():
    fills = [fill("s = ("), fill("s = 1")]
    assert rank_by_syntax(fills, SOURCE, None) == fills
    assert rank_by_syntax(fills, SOURCE, "cobol") == fills
    assert rank_by_syntax(fills[:1], SOURCE, "python") == fills[:1]


def test_greedy_decoding_with_a_prefix_prompt_reuses_the_encoded_prompt_while_typing(tiny_fillers):
    """A checkpoint that declares greedy decoding and prefix prompts (the embedded model): one candidate, written
    by the encoder; the next keystroke's fill encodes only what was typed, not the whole prefix again."""
    import dataclasses

    from dgemma_lsp.holes import FillKind, Hole
    from dgemma_lsp.pipeline import Filler
    from dgemma_lsp.prompts import PrefixFormat

    tiny, _ = tiny_fillers
    loaded = dataclasses.replace(tiny.loaded, decoding="greedy", prompt_format=PrefixFormat(tiny.loaded.tokenizer))
    filler = Filler(loaded, tiny.settings)
    text = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    ret\n"
    cursor = text.index("ret\n") + 3
    first = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python", candidates=3)
    assert first.encoded_tokens == len(filler.canvas_for(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python").prompt_ids)
    typed = text[:cursor] + "u" + text[cursor:]
    second = filler.fill(typed, Hole(FillKind.LINE, cursor + 1, cursor + 1, "    "), "python")
    assert second.encoded_tokens <= 3  # the new character's token(s) and the prompt's last token
    assert second.steps >= 1 and len(first.fills) <= 1
    for outcome in (first, second):
        assert all("\n" not in f.text for f in outcome.fills)  # a line hole stops at the line's end
