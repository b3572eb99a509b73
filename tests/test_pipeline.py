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
