import pytest

from dgemma_lsp.fill.pipeline import Fill, rank_by_syntax

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

    from dgemma_lsp.diffusion.prompts import PrefixFormat
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.fill.pipeline import Filler

    tiny, _ = tiny_fillers
    loaded = dataclasses.replace(tiny.loaded, decoding="greedy", prompt_format=PrefixFormat(tiny.loaded.tokenizer))
    filler = Filler(loaded, tiny.settings)
    text = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    ret\n"
    cursor = text.index("ret\n") + 3
    prompt = filler.canvas_for(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python").prompt_ids
    first = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python", candidates=3)
    assert first.encoded_tokens == len(prompt)  # the whole prompt once, shared by every branch
    typed = text[:cursor] + "u" + text[cursor:]
    second = filler.fill(typed, Hole(FillKind.LINE, cursor + 1, cursor + 1, "    "), "python")
    assert second.encoded_tokens <= 3  # the new character's token(s) and the prompt's last
    branches = tiny.settings.completion.line_branches
    assert second.steps >= 1 and 1 <= len(first.fills) <= branches
    for outcome in (first, second):
        assert all("\n" not in f.text for f in outcome.fills)  # a line hole stops at the line's end
    # where the time went, stage by stage (`bench lsp` reports these): the judge ranks several branches
    assert {"canvas", "queue", "encode", "decode", "judge", "postprocess"} <= set(first.timings)
    assert all(first.timings[stage] > 0 for stage in ("encode", "decode", "judge"))


def test_greedy_line_branches_are_ranked_by_the_text_after_the_hole(tiny_fillers, monkeypatch):
    """Among the branches that fit the file, the one after which the text following the hole is likeliest comes
    first; one that adds syntax errors comes after every one that does not, whatever its score; one that
    post-processing empties is neither judged nor shown. The judge sees each fill followed by the head of the
    text after the hole, in the model's tokens; only the fills the checks leave tied for first are judged, each
    distinct text once, and none where one fill alone is left."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole

    tiny, _ = tiny_fillers
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), tiny.settings)
    tokenizer = filler.loaded.tokenizer
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    lines = ["if s:", "t = 1", "s = 1", "u = 1"]  # a block opener where a statement must go: emptied
    widths, judged = [], []

    def scripted_branches(model, prompt_ids, *, width, **kwargs):
        widths.append(width)
        return Branches([encode(line) for line in lines], [True] * len(lines), 3, 0.0)

    def scripted_judge(model, cache, last_prompt_id, continuations, pad_id=0):
        texts = [tokenizer.decode(ids) for ids in continuations]
        judged.extend(texts)
        return [{"s": 5.0, "t": 1.0, "u": 9.0}[text[0]] for text in texts]

    def scripted_syntax(fill, text, language):
        return not fill.text.startswith("u")  # as if `u = 1` broke the file

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    monkeypatch.setattr(pipeline, "continuation_logprobs", scripted_judge)
    monkeypatch.setattr(pipeline, "keeps_syntax", scripted_syntax)
    text = "def total(xs):\n    \n    return xs\n"  # no name for a branch to bind: the judge decides
    cursor = text.index("    \n") + 4
    outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert [f.text for f in outcome.fills] == ["s = 1", "t = 1", "u = 1"]
    assert widths == [tiny.settings.completion.line_branches]
    assert sorted(judged) == sorted(f"{line}\n    return xs\n" for line in ("s = 1", "t = 1"))

    judged.clear()
    lines[:] = ["if s:", "t = 1", "t = 1", "u = 1"]  # one distinct fill that fits: nothing to weigh it against
    outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert [f.text for f in outcome.fills] == ["t = 1", "u = 1"] and judged == []
    lines[:] = ["s = 1", "t = 1", "s = 1", "u = 1"]  # a text two branches wrote is scored once
    outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert [f.text for f in outcome.fills] == ["s = 1", "t = 1", "u = 1"]
    assert sorted(judged) == sorted(f"{line}\n    return xs\n" for line in ("s = 1", "t = 1"))


def test_an_automatic_line_request_decodes_fewer_branches(tiny_fillers, monkeypatch):
    """A request the user did not ask for decodes `automaticLineBranches` first tokens, an explicit one
    `lineBranches`; a block is not affected. A column-0 cursor filled as the indented one keeps the budget. Only an
    automatic line decodes a confident first token alone (AUTOMATIC_ALONE_ABOVE)."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.settings import CompletionSettings

    tiny, _ = tiny_fillers
    settings = dataclasses.replace(
        tiny.settings, completion=CompletionSettings(line_branches=5, automatic_line_branches=2)
    )
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), settings)
    tokenizer = filler.loaded.tokenizer
    widths = []

    alone = []

    def scripted_branches(model, prompt_ids, *, width, **kwargs):
        widths.append(width)
        alone.append(kwargs["alone_above"])
        return Branches([tokenizer("s = 1", add_special_tokens=False)["input_ids"]], [True], 3, 0.0)

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    text = "def total(xs):\n    \n    return xs\n"
    cursor = text.index("    \n") + 4
    line = Hole(FillKind.LINE, cursor, cursor, "    ")
    for automatic in (True, False):
        assert [f.text for f in filler.fill(text, line, "python", automatic=automatic).fills] == ["s = 1"]
    column0 = "def total(xs):\n\n    return xs\n"
    start = column0.index("\n\n") + 1
    filler.fill(column0, Hole(FillKind.LINE, start, start, "    "), "python", automatic=True)
    filler.fill(text, Hole(FillKind.BLOCK, cursor, cursor, "    "), "python", automatic=True)
    assert widths == [2, 5, 2, settings.completion.block_branches]
    confident = pipeline.AUTOMATIC_ALONE_ABOVE
    assert confident is not None and alone == [confident, None, confident, None]


def test_an_automatic_line_request_judges_on_a_shorter_head_of_the_suffix(tiny_fillers, monkeypatch):
    """The judge scores each contender followed by the first AUTOMATIC_SCORED_SUFFIX_TOKENS tokens after the
    hole on a request the user did not ask for, the first SCORED_SUFFIX_TOKENS on an explicit one."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole

    tiny, _ = tiny_fillers
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), tiny.settings)
    tokenizer = filler.loaded.tokenizer
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    lines = ["s = 1", "t = 1"]
    scored: list[int] = []  # suffix tokens each judged continuation carried past its fill

    def scripted_branches(model, prompt_ids, *, width, **kwargs):
        return Branches([encode(line) for line in lines], [True] * len(lines), 3, 0.0)

    def counting_judge(model, cache, last, continuations, pad_id=0):
        scored.extend(len(ids) - len(encode("s = 1")) for ids in continuations)
        return [0.0] * len(continuations)

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    monkeypatch.setattr(pipeline, "continuation_logprobs", counting_judge)
    body = "".join(f"    v{i} = xs[{i}] + {i}\n" for i in range(40))  # far more suffix than either head
    text = "def total(xs):\n    \n" + body
    cursor = text.index("    \n") + 4
    line = Hole(FillKind.LINE, cursor, cursor, "    ")
    filler.fill(text, line, "python", automatic=True)
    automatic, scored[:] = list(scored), []
    filler.fill(text, line, "python", automatic=False)
    assert len(automatic) == 2 and len(scored) == 2
    assert max(automatic) <= pipeline.AUTOMATIC_SCORED_SUFFIX_TOKENS + 2 < min(scored)
    assert max(scored) <= pipeline.SCORED_SUFFIX_TOKENS + 2


def test_a_block_whose_one_branch_leaves_nothing_is_decoded_again_from_two_starts(tiny_fillers, monkeypatch):
    """A block fill from one branch that post-processing empties (here a header with no body) is not the end: the
    two likeliest starts are decoded, and the one that parses is offered. A block that parses is decoded once."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole

    tiny, _ = tiny_fillers
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), tiny.settings)
    tokenizer = filler.loaded.tokenizer
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    widths = []
    scripts = {1: ["if s:"], 2: ["if s:", "s = sum(xs)"]}

    def scripted_branches(model, prompt_ids, *, width, **kwargs):
        widths.append(width)
        return Branches([encode(body) for body in scripts[width]], [True] * width, 3, 0.0)

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    monkeypatch.setattr(
        pipeline,
        "continuation_logprobs",
        lambda model, cache, last, continuations, pad_id=0: [0.0] * len(continuations),
    )
    text = "def total(xs):\n    \n"
    cursor = text.index("    \n") + 4
    outcome = filler.fill(text, Hole(FillKind.BLOCK, cursor, cursor, "    "), "python")
    assert widths == [1, 2] and [f.text for f in outcome.fills] == ["s = sum(xs)"]
    widths.clear()
    scripts[1] = ["return sum(xs)"]
    outcome = filler.fill(text, Hole(FillKind.BLOCK, cursor, cursor, "    "), "python")
    assert widths == [1] and [f.text for f in outcome.fills] == ["return sum(xs)"]


def test_plain_greedy_decoding_has_no_judge(tiny_fillers, monkeypatch):
    import dataclasses

    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.settings import CompletionSettings

    tiny, _ = tiny_fillers
    settings = dataclasses.replace(tiny.settings, completion=CompletionSettings(line_branches=1))
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), settings)
    monkeypatch.setattr(pipeline, "continuation_logprobs", lambda *a, **k: pytest.fail("judged one branch"))
    text = "def total(xs):\n    \n    return s\n"
    cursor = text.index("    \n") + 4
    outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert len(outcome.fills) <= 1
    assert "judge" not in outcome.timings and "decode" in outcome.timings


@pytest.mark.parametrize(
    ("line_before", "indent", "continuation", "kept"),
    [
        ("    ", "    ", "return 1\n\n\ndef g():\n    pass\n", "return 1\n\n\n"),  # a stub body, then the next def
        (  # a body between braces, then the closing brace at the opening line's indentation
            "func f() int {",
            "",
            "\n\tif x {\n\t\treturn 1\n\t}\n\treturn 2\n}\n\nfunc g",
            "\n\tif x {\n\t\treturn 1\n\t}\n\treturn 2\n",
        ),
        ("    ", "    ", "x = 1\n    if x:\n        y = 2\n", None),  # still inside: nothing to cut
        (  # the same body where the prompt opened its first line (`Canvas.opened`): the model starts at its code
            "func f() int {",
            "",
            "if x {\n\t\treturn 1\n\t}\n\treturn 2\n}\n\nfunc g",
            "if x {\n\t\treturn 1\n\t}\n\treturn 2\n",
        ),
    ],
)
def test_a_greedy_block_fill_ends_where_the_model_leaves_the_body(line_before, indent, continuation, kept):
    from dgemma_lsp.diffusion.tokens import byte_tokenizer
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.fill.pipeline import body_end

    tokenizer = byte_tokenizer()
    ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    stop = body_end(tokenizer, line_before, Hole(FillKind.BLOCK, 0, 0, indent))
    cut = next((keep for n in range(1, len(ids) + 1) if (keep := stop(ids[:n])) is not None), None)
    assert (tokenizer.decode(ids[:cut]) if cut is not None else None) == kept


@pytest.mark.parametrize(
    "continuation, kept",
    [
        ("\n        continue\n        continue\n        x = 1\n", "\n        continue\n"),
        (  # a two-line round, again
            "\n        if y:\n            continue\n        if y:\n            continue\n        if",
            "\n        if y:\n            continue\n",
        ),
        ("\n        a = 1\n\n        b = 2\n        return a\n", None),  # no line repeats
        ("\n        a = 1\n            a = 1\n", None),  # another indentation is another line
        ("\n        rows = [\n            0,\n            0,\n        ]\n", None),  # data inside the fill's brackets
    ],
)
def test_a_greedy_block_fill_ends_where_the_model_starts_repeating_itself(continuation, kept):
    from dgemma_lsp.diffusion.tokens import byte_tokenizer
    from dgemma_lsp.fill.pipeline import repetition_end

    tokenizer = byte_tokenizer()
    ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    stop = repetition_end(tokenizer, "python")
    cut = next((keep for n in range(1, len(ids) + 1) if (keep := stop(ids[:n])) is not None), None)
    assert (tokenizer.decode(ids[:cut]) if cut is not None else None) == kept


def test_a_brace_stubs_body_is_written_from_its_first_lines_code(tiny_fillers, monkeypatch):
    """The prompt ends with the body's first line opened (newline, indentation); the model's first token is code
    (a stub's fill must not be nothing or a comment), and the fill takes the opened line back."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.diffusion.prompts import PrefixFormat
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.headless.targets import find_targets

    tiny, _ = tiny_fillers
    loaded = dataclasses.replace(tiny.loaded, decoding="greedy", prompt_format=PrefixFormat(tiny.loaded.tokenizer))
    filler = pipeline.Filler(loaded, tiny.settings)
    tokenizer = loaded.tokenizer
    seen = {}

    def scripted_branches(model, prompt_ids, *, width, clamps, **kwargs):
        seen["prompt"], seen["clamps"] = tokenizer.decode(prompt_ids, skip_special_tokens=True), clamps
        body = "counts.iter().sum()\n}\n\nfn next() {}"
        return Branches([tokenizer(body, add_special_tokens=False)["input_ids"]], [True], 3, 0.0)

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    text = "fn total(counts: &[usize]) -> usize {\n    todo!()\n}\n"
    (target,) = find_targets(text, "rust")
    outcome = filler.fill(text, target.hole, "rust")
    assert seen["prompt"] == "fn total(counts: &[usize]) -> usize {\n    "
    first = seen["clamps"][0]
    assert tokenizer.convert_tokens_to_ids("c") in first and tokenizer.convert_tokens_to_ids("\n") not in first
    assert outcome.fills[0].text == "\n    counts.iter().sum()\n"


@pytest.mark.parametrize(
    ("text", "fill", "language", "stub"),
    [
        ("fn f() -> usize {\n    todo!()\n}\n", "\n    unimplemented!()\n", "rust", True),
        ("fn f() -> usize {\n    todo!()\n}\n", "\n    1\n", "rust", False),
        ("def f():\n    pass\n", "raise NotImplementedError", "python", True),
        ("def f():\n    pass\n", "return 1", "python", False),
        ("func f() int {\n\tpanic(1)\n}\n", "\n\t// TODO\n", "go", True),
        ("x = 1\n", "pass", "python", False),  # no function around it
        ("def f():\n    pass\n", "...", None, False),  # no grammar
    ],
)
def test_leaves_stub_reads_the_function_with_the_fill_in_place(text, fill, language, stub):
    from dgemma_lsp.fill.ranking import leaves_stub

    if "{" in text:
        start, end = text.index("{") + 1, text.rindex("}")
    elif text.startswith("def"):
        start, end = text.index("pass"), text.index("pass") + 4
    else:
        start, end = 0, 5
    assert leaves_stub(Fill(fill, start, end, fill), text, language) is stub


def test_block_branches_rank_a_stub_after_code_and_end_where_the_body_ends(tiny_fillers, monkeypatch):
    """A body is decoded from as many first tokens as candidates are asked for (or `blockBranches`). Branches
    that fit the file come first, then those that do not leave the function a stub, then the likelier to be
    followed by the hole's closing line, which is all of the text after the hole the judge sees."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.diffusion.prompts import PrefixFormat
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.headless.targets import find_targets
    from dgemma_lsp.settings import CompletionSettings

    tiny, _ = tiny_fillers
    loaded = dataclasses.replace(tiny.loaded, decoding="greedy", prompt_format=PrefixFormat(tiny.loaded.tokenizer))
    tokenizer = loaded.tokenizer
    bodies = ["todo!()", "a + 1", "b * 2", "a * b"]  # a stub written back, two bodies, and (as if) a syntax error
    widths, judged = [], []

    def scripted_branches(model, prompt_ids, *, width, **kwargs):
        widths.append(width)
        return Branches([tokenizer(b, add_special_tokens=False)["input_ids"] for b in bodies], [True] * 4, 3, 0.0)

    def scripted_judge(model, cache, last_prompt_id, continuations, pad_id=0):
        texts = [tokenizer.decode(ids) for ids in continuations]
        judged.extend(texts)
        return [{"todo!()": 9.0, "a + 1": 1.0, "b * 2": 5.0, "a * b": 7.0}[text.split("\n")[0]] for text in texts]

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    monkeypatch.setattr(pipeline, "continuation_logprobs", scripted_judge)
    monkeypatch.setattr(pipeline, "keeps_syntax", lambda fill, text, language: "a * b" not in fill.text)
    text = "fn f(a: u8, b: u8) -> u8 {\n    todo!()\n}\n\nfn g() {}\n"
    (target,) = find_targets(text, "rust")
    filler = pipeline.Filler(loaded, tiny.settings)
    outcome = filler.fill(text, target.hole, "rust", candidates=4)
    assert [f.text.strip() for f in outcome.fills] == ["b * 2", "a + 1", "todo!()", "a * b"]
    assert widths == [4] and all(t.endswith("\n}\n") and "fn g" not in t for t in judged)
    three = dataclasses.replace(tiny.settings, completion=CompletionSettings(block_branches=3))
    pipeline.Filler(loaded, three).fill(text, target.hole, "rust")
    assert widths[-1] == 3


@pytest.mark.parametrize(
    ("fill", "language", "inert"),
    [
        ("# check the balance", "python", True),
        ("print(result)", "python", True),
        ("print(x)\n    # done", "python", True),
        ("result = print_all(xs)", "python", False),
        ("printer = make()", "python", False),
        ("x = 1  # one", "python", False),
        ("console.log(x);", "typescript", True),
        ("// later", "go", True),
        ('fmt.Println("x")', "go", True),
        ("dbg!(x);", "rust", True),
        ("# heading", None, False),  # no grammar, no judgement
        ("", "python", False),
    ],
)
def test_inert_fills_are_comments_and_prints_only(fill, language, inert):
    from dgemma_lsp.fill.pipeline import is_inert

    assert is_inert(fill, language) is inert


def test_an_inert_branch_ranks_after_code_where_code_follows(tiny_fillers, monkeypatch):
    """Under the judge a comment costs the text after it nothing, so it can outscore the code the hole needs;
    where code follows the hole, code comes first. At the end of a file there is nothing to weigh it against."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole

    tiny, _ = tiny_fillers
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), tiny.settings)
    tokenizer = filler.loaded.tokenizer
    lines = ["# add them up", "print(xs)", "s = sum(xs)"]
    branches = Branches([tokenizer(line, add_special_tokens=False)["input_ids"] for line in lines], [True] * 3, 3, 0.0)
    monkeypatch.setattr(pipeline, "greedy_branches", lambda *a, **k: branches)
    monkeypatch.setattr(pipeline, "continuation_logprobs", lambda m, c, last, conts, pad_id=0: [-1.0, -2.0, -9.0])
    for text, indent, expected in [
        ("def total(xs):\n    \n    return s\n", "    ", ["s = sum(xs)", "# add them up", "print(xs)"]),
        ("xs = [1, 2]\n", "", ["# add them up", "print(xs)", "s = sum(xs)"]),  # the end of the file
    ]:
        cursor = text.index("    \n") + 4 if indent else len(text)
        outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, indent), "python")
        assert [f.text for f in outcome.fills] == expected


def test_a_branch_that_leaves_fewer_names_undefined_ranks_first(tiny_fillers, monkeypatch):
    """The code after the hole uses `s`: the branches are asked to bind it, and the one that does comes first
    whatever the judge's scores, then one that leaves it unbound, then one that also uses a name nothing defines.
    Plain greedy decoding (one branch) asks for no names, nor does `bindNames: false`, which ranks by the judge
    alone."""
    import dataclasses

    from dgemma_lsp.diffusion.autoregressive import Branches
    from dgemma_lsp.fill import pipeline
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.settings import CompletionSettings

    tiny, _ = tiny_fillers
    filler = pipeline.Filler(dataclasses.replace(tiny.loaded, decoding="greedy"), tiny.settings)
    tokenizer = filler.loaded.tokenizer
    lines = ["u = v", "t = 1", "s = 1"]
    asked = []

    def scripted_branches(model, prompt_ids, *, width, words=(), **kwargs):
        asked.append(tuple(words))
        candidates = [tokenizer(line, add_special_tokens=False)["input_ids"] for line in lines]
        return Branches(candidates, [True] * len(lines), 3, 0.0)

    monkeypatch.setattr(pipeline, "greedy_branches", scripted_branches)
    monkeypatch.setattr(pipeline, "continuation_logprobs", lambda m, c, last, conts, pad_id=0: [-1.0, -2.0, -9.0])
    text = "def total(xs):\n    \n    return s\n"
    cursor = text.index("    \n") + 4
    outcome = filler.fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert [f.text for f in outcome.fills] == ["s = 1", "t = 1", "u = v"]
    assert asked == [("s",)]

    plain = dataclasses.replace(tiny.settings, completion=CompletionSettings(line_branches=1))
    pipeline.Filler(filler.loaded, plain).fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert asked[-1] == ()

    unbound = dataclasses.replace(tiny.settings, completion=CompletionSettings(bind_names=False))
    outcome = pipeline.Filler(filler.loaded, unbound).fill(text, Hole(FillKind.LINE, cursor, cursor, "    "), "python")
    assert asked[-1] == () and [f.text for f in outcome.fills] == lines  # the judge's order alone


@pytest.mark.parametrize(
    ("fill", "language", "count"),
    [
        ("s = 1", "python", 0),
        ("t = 1", "python", 1),
        ("t = v", "python", 2),
        ("s = (", "python", float("inf")),  # the file no longer parses
        ("t = 1", "go", 0),  # no linter: every fill alike
    ],
)
def test_undefined_after_counts_uses_of_undefined_names_with_the_fill(fill, language, count):
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.fill.pipeline import undefined_after

    assert undefined_after(SOURCE, Hole(FillKind.LINE, HOLE, HOLE, "    "), fill, language) == count


@pytest.mark.parametrize(
    ("text", "kind", "indent", "missing"),
    [
        ("def f():\n    a()\n<|>\n    b()\n", "line", "    ", "    "),  # column 0 of an empty line in a body
        ("def f():\n    a()\n  <|>\n    b()\n", "line", "    ", ""),  # an indentation typed is the user's
        ("def f():\n    a()\n    <|>\n    b()\n", "line", "    ", ""),  # indented already
        ("def f():\n    a()\n<|>  \n    b()\n", "line", "    ", ""),  # whitespace after the cursor: left as it is
        ("x = 1\n<|>\n", "block", "", ""),  # no indentation to type
        ("def f():\n    a = <|>\n", "line", "    ", ""),  # not a blank line
        ("def f():\n\tif x:\n<|>\n", "block", "\t\t", "\t\t"),  # tabs
    ],
)
def test_untyped_indentation_is_what_an_indenting_editor_would_have_typed(text, kind, indent, missing):
    from dgemma_lsp.fill.holes import FillKind, Hole, untyped_indentation

    cursor = text.index("<|>")
    text = text.replace("<|>", "")
    assert untyped_indentation(text, Hole(FillKind(kind), cursor, cursor, indent)) == missing


def test_a_column_0_cursor_gets_the_indented_cursors_fill(tiny_fillers):
    """An empty line inside an indented body at column 0 fills as the auto-indented line does: the same prompt
    (the cache encodes nothing new for it) and the same fill, with the indentation put in front."""
    import dataclasses

    from dgemma_lsp.diffusion.prompts import PrefixFormat
    from dgemma_lsp.fill.holes import choose_hole
    from dgemma_lsp.fill.pipeline import Filler
    from dgemma_lsp.text.syntax import parse

    tiny, _ = tiny_fillers
    loaded = dataclasses.replace(tiny.loaded, decoding="greedy", prompt_format=PrefixFormat(tiny.loaded.tokenizer))
    settings = dataclasses.replace(tiny.settings, completion=dataclasses.replace(tiny.settings.completion, seed=0))
    filler = Filler(loaded, settings)
    head, tail = "def total(xs):\n    s = 0\n", "\n    return s\n"
    indented_text, column0_text = head + "    " + tail, head + tail
    indented = choose_hole(indented_text, parse(indented_text, "python"), "python", len(head) + 4)
    column0 = choose_hole(column0_text, parse(column0_text, "python"), "python", len(head))
    assert (column0.kind, column0.indent) == (indented.kind, indented.indent) == (indented.kind.LINE, "    ")
    first = filler.fill(indented_text, indented, "python")
    second = filler.fill(column0_text, column0, "python")
    assert second.encoded_tokens <= 2 < first.encoded_tokens  # the same prompt as the indented one: cached
    assert [f.text for f in second.fills] == ["    " + f.text for f in first.fills]
    assert all((f.start, f.end) == (len(head), len(head)) for f in second.fills)


def test_the_prompt_carries_the_outline_and_the_workspace_definitions_under_their_budgets(tiny_fillers):
    """Context outside the window comes first in the prompt: definitions from other files the code uses, then the
    file's own imports and signatures; each within its budget, none when the budgets are 0 (the window alone)."""
    import dataclasses

    from dgemma_lsp.diffusion.prompts import PrefixFormat
    from dgemma_lsp.fill.holes import FillKind, Hole
    from dgemma_lsp.fill.pipeline import Filler
    from dgemma_lsp.fill.related import Workspace

    tiny, _ = tiny_fillers
    text = "from .config import load\nimport os\n\n" + "y = 1\n" * 60 + "value = load(p)\n"
    cursor = len(text)
    text += "\n\ndef helper(a, b):\n    return a\n"
    hole = Hole(FillKind.LINE, cursor, cursor, "")
    workspace = Workspace("pkg/cli.py", {"pkg/config.py": "def load(path, strict=False):\n    return path\n"})
    tokenizer = tiny.loaded.tokenizer
    loaded = dataclasses.replace(tiny.loaded, prompt_format=PrefixFormat(tokenizer))  # the suffix is not shown

    def prompt(outline: int, related: int) -> str:
        context = dataclasses.replace(tiny.settings.context, prefix_tokens=40, outline_tokens=outline,
                                      related_tokens=related)  # fmt: skip
        filler = Filler(loaded, dataclasses.replace(tiny.settings, context=context))
        return tokenizer.decode(filler.canvas_for(text, hole, "python", workspace).prompt_ids)

    plain, full = prompt(0, 0), prompt(200, 200)
    assert "import os" not in plain and "# pkg/config.py" not in plain
    assert "# pkg/config.py\ndef load(path, strict=False): ..." in full
    assert "import os" in full and "def helper(a, b): ..." in full
    assert full.index("# pkg/config.py") < full.index("import os") < full.index("value = load(p)")
    assert full.endswith(plain[plain.index("y = 1") :])  # the window itself is unchanged
