"""The evaluation harness: tasks become editor requests, programs really run, metrics mean what they say."""

import json
import time
from pathlib import Path

import pytest

from dgemma_lsp.cli import main as cli_main
from dgemma_lsp.evaluation import humaneval
from dgemma_lsp.fill.holes import FillKind

DATA = Path(__file__).resolve().parents[2] / "model" / "data" / "humaneval-infilling"


@pytest.fixture(scope="module")
def single():
    return humaneval.load_tasks(DATA / "HumanEval-SingleLineInfilling.jsonl.gz")


@pytest.fixture(scope="module")
def multi():
    return humaneval.load_tasks(DATA / "HumanEval-MultiLineInfilling.jsonl.gz")


@pytest.fixture(scope="module")
def last_line(single):
    """A task whose middle is the function's closing `return`: any statement can stand in for it."""
    return next(t for t in single if t.middle.lstrip().startswith("return ") and not t.suffix)


def test_data_is_in_the_project(single, multi):
    assert humaneval.data_dir() == DATA
    assert (len(single), len(multi)) == (1033, 5815)
    assert len(humaneval.load_tasks(DATA / "HumanEval.jsonl.gz")) == 164


@pytest.mark.parametrize("benchmark, index", [("single", 0), ("single", 517), ("single", 1032), ("multi", 3), ("multi", 4000), ("multi", 5814)])  # fmt: skip  # noqa: E501
@pytest.mark.parametrize("cursor", humaneval.CURSORS)
def test_canonical_middle_survives_the_round_trip_and_passes(benchmark, index, cursor, single, multi):
    task = (single if benchmark == "single" else multi)[index]
    request = humaneval.request_for(task, FillKind.LINE, cursor)
    typed = request.text[len(task.prompt) : request.hole.start]
    assert request.text == task.prompt + typed + "\n" + task.suffix and not typed.strip()
    canonical = humaneval.canonical_middle(task)
    assert humaneval.middle_from(task, request, canonical[len(typed) :]) == canonical
    assert humaneval.program_for(task, canonical) == task.prompt + task.middle + task.suffix
    if cursor == "indented":  # the execution itself, once per task
        assert humaneval.check(task, canonical) == humaneval.Execution("passed")


@pytest.mark.parametrize("index", [0, 32, 163])
def test_a_function_body_task_is_a_stub_whose_canonical_body_passes(index):
    """`function-body`: the body is `pass`, the hole covers it, and the canonical body in its place passes."""
    task = humaneval.load_tasks(DATA / humaneval.BENCHMARKS["function-body"][0])[index]
    request = humaneval.request_for(task, FillKind.BLOCK, "stub")
    hole = request.hole
    assert request.text[hole.start : hole.end] == "pass" and request.text.endswith("pass\n")
    assert request.text[: hole.start] == task.prompt + hole.indent
    filled = humaneval.middle_from(task, request, humaneval.canonical_middle(task).removeprefix(hole.indent))
    assert filled == humaneval.canonical_middle(task)
    assert humaneval.check(task, filled) == humaneval.Execution("passed")
    assert humaneval.check(task, humaneval.middle_from(task, request, "pass")).status == "failed"


def test_empty_line_cursor_sits_at_column_zero(single):
    task = single[0]
    request = humaneval.request_for(task, FillKind.BLOCK, "empty-line")
    assert request.hole.start == request.hole.end == len(task.prompt)
    assert request.text == task.prompt + "\n" + task.suffix
    assert request.hole.kind is FillKind.BLOCK


def test_a_wrong_fill_fails(last_line):
    task = last_line
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip())]
    assert humaneval.check(task, humaneval.canonical_middle(task)).status == "passed"
    execution = humaneval.check(task, indent + "return None")
    assert execution.status == "failed"
    assert "AssertionError" in execution.detail


def test_an_early_exit_does_not_pass(last_line):
    task = last_line
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip())]
    assert humaneval.check(task, indent + "raise SystemExit(0)").status == "failed"
    assert humaneval.execute("import os\nos._exit(0)").status == "failed"


def test_an_endless_loop_times_out_and_is_reported(last_line):
    task = last_line
    indent = task.middle[: len(task.middle) - len(task.middle.lstrip())]
    started = time.monotonic()
    execution = humaneval.check(task, indent + "while True: pass", timeout=0.5)
    assert execution.status == "timeout"
    assert time.monotonic() - started < 5


def test_a_timeout_is_counted_in_the_summary(single):
    task = single[0]
    result = humaneval.TaskResult(task.task_id, "x", "", "timeout", False, 0.0, True, None)
    summary = humaneval.summarize([result])
    assert summary["timeouts"] == 1 and summary["pass@1"] == 0.0
    assert "timeouts" in humaneval.format_table({"x": summary}).splitlines()[0]


@pytest.mark.parametrize(
    "middle, reference, exact",
    [
        ("    return x", "    return x\n", True),  # the final newline
        ("    return x   \n\n", "    return x\n", True),  # trailing spaces and blank lines
        ("\n\n    return x", "    return x\n", True),  # leading blank lines
        ("    a = 1  \n\n    b = 2", "    a = 1\n\n    b = 2\n", True),  # inner blank line kept
        ("return x", "    return x\n", False),  # indentation counts
        ("    return  x", "    return x\n", False),  # inner spaces count
        ("    a = 1\n    b = 2", "    a = 1\n\n    b = 2\n", False),  # so do inner blank lines
        ("", "    return x\n", False),
    ],
)
def test_exact_match_normalisation(middle, reference, exact):
    assert humaneval.exact_match(middle, reference) is exact
    similarity = humaneval.edit_similarity(middle, reference)
    assert (similarity == 1.0) is exact and 0.0 <= similarity <= 1.0


def test_edit_similarity_is_the_sequence_matcher_ratio():
    assert humaneval.edit_similarity("abcd", "abxd") == pytest.approx(0.75)  # 2 * 3 / 8
    assert humaneval.edit_similarity("", "    return x") == 0.0


@pytest.mark.parametrize(
    "program, ok",
    [
        ("def f():\n    return 1\n", True),
        ("def f():\n    return (1\n", False),  # tree-sitter error
        ("def f():\nreturn 1\n", False),  # indentation
        ("return 1\n", False),  # parses as a tree, does not compile
        ("def f():\n", False),  # empty body
    ],
)
def test_parses(program, ok):
    assert humaneval.parses(program) is ok


def test_baselines_compute_what_they_claim(single):
    task = humaneval.Task("t", "f", "def f(x):\n    y = x\n\n   \n", "    return y\n", "    y += 1\n", "")
    assert humaneval.empty_middle(task) == ""
    assert humaneval.previous_line_middle(task) == "    y = x"
    assert humaneval.canonical_middle(task) == "    y += 1"
    assert humaneval.program_for(task, "") == "def f(x):\n    y = x\n\n   \n\n    return y\n"
    results = humaneval.evaluate(single[:2], FillKind.LINE, ["empty", "previous-line"])
    for result in results["empty"]:
        assert result.middle == "" and result.status == "failed" and not result.exact
    for task, result in zip(single[:2], results["previous-line"]):
        assert result.middle == task.prompt.rstrip("\n").rsplit("\n", 1)[-1]


def test_oracle_is_the_canonical_middle_through_post_processing(single):
    results = humaneval.evaluate(single[:3], FillKind.LINE, ["oracle"])["oracle"]
    assert all(r.status == "passed" and r.exact for r in results)


def test_sample_is_fixed_nested_and_in_file_order(single):
    small, large = humaneval.sample(single, 10), humaneval.sample(single, 100)
    assert small == humaneval.sample(single, 10)
    assert {t.task_id for t in small} <= {t.task_id for t in large}
    assert small == sorted(small, key=single.index)
    assert humaneval.sample(single, None) == single
    assert humaneval.sample(single, 5000) == single


def test_tiny_model_end_to_end(tmp_path, capsys):
    out = tmp_path / "report.json"
    settings = json.dumps({"sampler": {"maxDenoisingSteps": 2}})
    argv = ["--benchmark", "multi-line", "--model", "tiny", "--limit", "3", "--json", str(out), "--settings", settings]
    assert cli_main(["evaluate", *argv]) == 0
    table = capsys.readouterr().out
    assert "pass@1" in table and "previous-line" in table
    report = json.loads(out.read_text())
    assert report["tasks"] == 3 and report["of"] == 5815 and report["settings"]["completion"]["seed"] == 0
    assert set(report["summary"]) == {"model", "empty", "previous-line"}
    for method, summary in report["summary"].items():
        assert summary["tasks"] == 3
        for key in ("pass@1", "exact", "edit_similarity", "parse_rate"):
            assert 0.0 <= summary[key] <= 1.0
        assert (summary["ms_per_fill"] is not None) == (method == "model")
    assert len(report["results"]) == 9
    assert {r["status"] for r in report["results"]} <= {"passed", "failed", "timeout"}


def test_only_and_shards_select_tasks_and_shards_cover_the_sample_once(single):
    chosen = {single[3].task_id, single[40].task_id, "nonexistent/0"}
    assert [t.task_id for t in humaneval.select(single, chosen, None)] == [single[3].task_id, single[40].task_id]
    shards = [humaneval.select(single, None, (k, 3)) for k in (1, 2, 3)]
    assert sorted((t.task_id for shard in shards for t in shard), key=[t.task_id for t in single].index) == [
        t.task_id for t in single
    ]
    assert humaneval.select(single, None, (2, 3))[0] == single[1]


def test_only_reads_task_ids_from_a_file(tmp_path, capsys, single):
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{single[0].task_id}\n\n{single[7].task_id}\n")
    out = tmp_path / "report.json"
    argv = ["--methods", "empty", "--only", str(ids), "--shard", "2/2", "--json", str(out)]
    assert cli_main(["evaluate", *argv]) == 0
    report = json.loads(out.read_text())
    assert [r["task_id"] for r in report["results"]] == [single[7].task_id] and report["shard"] == [2, 2]


@pytest.mark.parametrize(
    "argv", [["--methods", "model,magic"], ["--methods", ""], ["--limit", "0"], ["--shard", "3/2"], ["--shard", "x"]]
)
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        cli_main(["evaluate", *argv])
    assert exit.value.code == 2
    assert argv[0] in capsys.readouterr().err


# ---- random spans and the `eval` command -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spans():
    return humaneval.load_tasks(DATA / "HumanEval-RandomSpanInfilling.jsonl.gz", whole_lines=False)


@pytest.mark.parametrize("index", [0, 1, 800, 1639])
def test_random_span_canonical_and_oracle_pass(spans, index):
    task = spans[index]
    request = humaneval.request_for(task, FillKind.BLOCK)
    assert request.text == task.prompt + task.suffix and request.hole.start == len(task.prompt)
    canonical = humaneval.canonical_middle(task)
    assert canonical == task.middle  # a span keeps every character, its final newline included
    assert humaneval.middle_from(task, request, canonical) == canonical
    assert humaneval.program_for(task, canonical) == task.prompt + task.middle + task.suffix
    assert humaneval.check(task, canonical) == humaneval.Execution("passed")
    assert humaneval.check(task, "").status == "failed" or not task.middle.strip()


def test_eval_humaneval_infilling_is_evaluate_with_split(tmp_path, capsys):
    reports = []
    for argv in (
        ["eval", "humaneval-infilling", "--split", "random-span"],
        ["evaluate", "--benchmark", "random-span"],
    ):
        out = tmp_path / f"{argv[0]}.json"
        assert cli_main([*argv, "--limit", "4", "--methods", "canonical,empty", "--json", str(out)]) == 0
        reports.append(json.loads(out.read_text()))
        assert "canonical" in capsys.readouterr().out
    assert reports[0]["summary"] == reports[1]["summary"] and reports[0]["of"] == 1640
    assert reports[0]["summary"]["canonical"]["pass@1"] == 1.0 and reports[0]["summary"]["canonical"]["exact"] == 1.0


def test_data_comes_from_the_data_flag(tmp_path, capsys):
    argv = ["eval", "humaneval-infilling", "--split", "single-line", "--limit", "2", "--methods", "empty"]
    assert cli_main([*argv, "--data", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    name = "HumanEval-SingleLineInfilling.jsonl.gz"
    (tmp_path / name).write_bytes((DATA / name).read_bytes())
    assert cli_main([*argv, "--data", str(tmp_path)]) == 0


def test_model_results_are_reproducible_with_a_fixed_seed(tmp_path):
    settings = json.dumps({"sampler": {"maxDenoisingSteps": 3}})
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out = tmp_path / f"{name}.json"
        argv = ["eval", "humaneval-infilling", "--split", "single-line", "--limit", "8", "--methods", "model",
                "--model", "tiny", "--seed", str(seed), "--settings", settings, "--json", str(out)]  # fmt: skip
        assert cli_main(argv) == 0
        runs.append(json.loads(out.read_text()))
    middles = [[r["middle"] for r in run["results"]] for run in runs]
    assert middles[0] == middles[1] and len(middles[0]) == 8
    assert middles[0] != middles[2]  # the seed does reach the sampler: equality above is not for want of output
    assert runs[0]["summary"]["model"]["pass@1"] == runs[1]["summary"]["model"]["pass@1"]


def test_candidates_reach_the_filler_and_the_first_ranked_fill_is_scored():
    from dgemma_lsp.evaluation.humaneval import _filler

    filler, settings = _filler({"model": "tiny"}, seed=3, candidates=4)
    assert settings.completion.candidates == 4 and settings.completion.seed == 3
    assert filler.settings.completion.candidates == 4


def test_encoder_greedy_is_deterministic_one_line_and_needs_no_seed(tmp_path):
    runs = []
    for name, seed in (("a", 1), ("b", 2)):
        out = tmp_path / f"{name}.json"
        argv = ["eval", "humaneval-infilling", "--split", "single-line", "--limit", "4", "--methods",
                "encoder-greedy,empty", "--model", "tiny", "--seed", str(seed), "--json", str(out)]  # fmt: skip
        assert cli_main(argv) == 0
        runs.append(json.loads(out.read_text()))
    greedy = [[r for r in run["results"] if r["method"] == "encoder-greedy"] for run in runs]
    assert [r["middle"] for r in greedy[0]] == [r["middle"] for r in greedy[1]]  # greedy: the seed plays no part
    assert len(greedy[0]) == 4 and all("\n" not in r["middle"] for r in greedy[0])  # a line hole gets one line
    assert (
        runs[0]["summary"]["encoder-greedy"]["ms_per_fill"] > 0 and runs[0]["summary"]["empty"]["ms_per_fill"] is None
    )


def test_encoder_greedy_reads_the_healed_prompt_and_cuts_the_indentation_it_writes(
    monkeypatch, tiny_fillers, indented_return_task
):
    from dgemma_lsp.diffusion import autoregressive
    from dgemma_lsp.diffusion.autoregressive import GreedyResult
    from dgemma_lsp.evaluation.humaneval import encoder_greedy_middle, request_for

    filler, healing = tiny_fillers
    tokenizer = filler.loaded.tokenizer
    task = indented_return_task
    request = request_for(task, FillKind.LINE)
    prompts = []

    def fake_decode(model, prompt_ids, **kwargs):
        prompts.append(prompt_ids)
        return GreedyResult(tokenizer.encode("        return 1", add_special_tokens=False), True, 1, 0.0)

    monkeypatch.setattr(autoregressive, "greedy_decode", fake_decode)
    middle, _ = encoder_greedy_middle(healing, task, request)
    assert middle == "        return 1"  # the indentation once: the typed one, the written one cut
    encoder_greedy_middle(filler, task, request)
    healed_prompt, plain_prompt = (tokenizer.decode(p) for p in prompts)
    assert healed_prompt.endswith("\n<fim_middle>")  # stops at the newline, before the typed indentation
    assert plain_prompt.endswith("\n        <fim_middle>")
