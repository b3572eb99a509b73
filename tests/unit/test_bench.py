"""The benchmarks' plain parts (hole cutting, summaries, the README block) and one short run of each on the
seeded tiny model, which must write its JSON report."""

import json
from pathlib import Path

import pytest

from dgemma_lsp.cli import main
from dgemma_lsp.evaluation.bench import decoding, drafting, load, lsp, readme
from dgemma_lsp.evaluation.bench.common import percentile
from dgemma_lsp.fill.holes import FillKind


@pytest.mark.parametrize(
    "values, q, expected", [([3, 1, 2], 50, 2), ([5, 1, 4, 2, 3], 95, 5), ([7], 95, 7), ([], 50, None)]
)
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_file_holes_cut_whole_lines_that_put_back_give_the_file(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f(x):\n" + "".join(f"    y{i} = x + {i}\n" for i in range(30)) + "    return x\n")
    tasks = decoding.file_holes([source])
    assert [t.middle.count("\n") for t in tasks] == list(decoding.CUT_LINES)
    for task in tasks:
        assert task.prompt + task.middle + task.suffix == source.read_text()
        assert task.middle.startswith("    ")


def test_engine_summary_buckets_and_speedup():
    def row(bucket, decoder, tokens, seconds, forwards, canvases):
        return {
            "bucket": bucket,
            "decoder": decoder,
            "tokens": tokens,
            "seconds": seconds,
            "forwards": forwards,
            "canvases": canvases,
            "exact": decoder == "diffusion",
            "passed": None,
        }

    rows = [row("17-64", "diffusion", 40, 1.0, 10, 2), row("17-64", "autoregressive", 40, 4.0, 40, None)]
    summary = decoding.summarize(rows)["17-64"]
    assert summary["speedup"] == pytest.approx(4.0)
    assert summary["diffusion"]["steps_per_canvas"] == 5
    assert summary["autoregressive"]["steps_per_canvas"] is None
    assert summary["diffusion"]["exact"] == 1 and summary["autoregressive"]["exact"] == 0
    assert "4.00x" in decoding.format_table(decoding.summarize(rows))


async def test_the_bench_client_keeps_the_servers_timing_notifications_as_rows():
    client = lsp.BenchClient()
    filled = {
        "request": "r3",
        "outcome": "filled",
        "totalMs": 120.5,
        "queueMs": 1.0,
        "forwardMs": 90.0,
        "samplerMs": 20.0,
        "overheadMs": 9.5,
    }
    reused = {"request": "r4", "outcome": "reused", "totalMs": 0.4}
    for params in (filled, reused):  # as pygls' reading loop hands each message over
        message = json.dumps({"jsonrpc": "2.0", "method": lsp.TIMINGS, "params": params})
        client.protocol.handle_message(json.loads(message, object_hook=client.protocol.structure_message))
    assert client.timings == [filled, reused]
    assert lsp.CAPABILITIES.experimental == {"dgemmaTimings": True}  # what makes the server send them


def test_key_gaps_are_bursts_then_pauses_from_a_seed():
    import random

    typed = "result = compute(values, scale=2)"
    gaps = lsp.key_gaps(typed, random.Random(3), (6.0, 12.0), (0.3, 3.0))
    assert len(gaps) == len(typed) and gaps == lsp.key_gaps(typed, random.Random(3), (6.0, 12.0), (0.3, 3.0))
    keys = [g for g in gaps if g < 0.3]  # within a burst: 1/12 to 1/6 s
    pauses = [g for g in gaps[1:] if g >= 0.3]
    assert all(1 / 12 <= g <= 1 / 6 for g in keys) and all(0.3 <= g <= 3.0 for g in pauses)
    assert len(typed) / 6 - 1 <= len(pauses) <= len(typed) / 2  # a pause before every burst of 2-6 keys but the first


def test_typing_plan_retypes_code_lines():
    import random

    text = "def f(x):\n    total = compute(x, 1)\n    return total\n"
    spots = lsp.typing_plan(text, 5, random.Random(0))
    assert spots and all(
        text[offset : offset + len(typed)] == typed and typed == typed.lstrip() for offset, typed in spots
    )
    assert len(lsp.long_file([Path(lsp.__file__)], 300).splitlines()) == 300


def test_readme_block_is_replaced_between_markers_or_appended():
    first = readme.replace_block("# Title\n", "table one")
    assert first.count(readme.BEGIN) == 1 and "table one" in first
    second = readme.replace_block(first + "\n## After\n", "table two")
    assert "table one" not in second and "table two" in second and second.endswith("## After\n")


def test_bench_engine_runs_on_the_tiny_model_and_writes_json(tmp_path):
    assert main(["bench", "engine", "--model", "tiny", "--limit", "1", "--no-tests", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "engine.json").read_text())
    assert report["summary"] and {r["decoder"] for r in report["fills"]} == set(decoding.DECODERS)
    assert all(r["seconds"] > 0 and r["forward_seconds"] <= r["seconds"] for r in report["fills"])
    readme_file = tmp_path / "README.md"
    readme_file.write_text("# x\n")
    assert main(["bench", "readme", "--out", str(tmp_path), "--readme", str(readme_file)]) == 0
    assert "bench engine" in readme_file.read_text()


def test_the_drafting_summary_counts_fills_unlike_greedy_and_tokens_per_forward():
    row = dict(source="humaneval", ms=10.0, decode_ms=5.0, forwards=4)
    rows = [
        {**row, "task": "a", "arm": "greedy", "fill": "x = 1", "branch_forwards": 8, "accepted": 0},
        {**row, "task": "a", "arm": "lookup-2", "fill": "x = 1", "branch_forwards": 4, "accepted": 4},
        {**row, "task": "b", "arm": "greedy", "fill": "y", "branch_forwards": 2, "accepted": 0},
        {**row, "task": "b", "arm": "lookup-2", "fill": "z", "branch_forwards": 2, "accepted": 0},
    ]
    summary = drafting.summarize(rows, ["greedy", "lookup-2"])
    assert summary["greedy"]["all"]["unlike_greedy"] == 0 and summary["greedy"]["all"]["tokens_per_forward"] == 1
    assert summary["lookup-2"]["humaneval"]["unlike_greedy"] == 1
    assert summary["lookup-2"]["all"]["tokens_per_forward"] == (6 + 4) / 6
    assert "| lookup-2 | humaneval | 2 | 1 |" in drafting.format_table(summary)


def test_bench_drafting_runs_on_the_tiny_model_and_writes_json(tmp_path):
    settings = json.dumps({"decoding": "greedy"})
    arguments = ["--limit", "1", "--humaneval", "1", "--draft-tokens", "2", "--out", str(tmp_path)]
    assert main(["bench", "drafting", "--model", "tiny", "--settings", settings, *arguments]) == 0
    report = json.loads((tmp_path / "drafting.json").read_text())
    assert {row["arm"] for row in report["rows"]} == {"greedy", "lookup-2"}
    assert report["summary"]["lookup-2"]["all"]["unlike_greedy"] == 0
    assert main(["bench", "drafting", "--model", "tiny", "--out", str(tmp_path)]) == 2  # the tiny model denoises
    readme_file = tmp_path / "README.md"
    readme_file.write_text("# x\n")
    assert main(["bench", "readme", "--out", str(tmp_path), "--readme", str(readme_file)]) == 0
    assert "| lookup-2 | all |" in readme_file.read_text()


def test_bench_lsp_replays_typing_against_the_real_server(tmp_path):
    args = ["bench", "lsp", "--model", "tiny", "--edits", "1", "--burst-cps", "40", "60", "--pause-s", "0.5", "0.6"]
    args += ["--out", str(tmp_path)]
    assert main(args) == 0
    report = json.loads((tmp_path / "lsp.json").read_text())
    summary = report["summary"]
    assert summary["requests"] >= 3
    assert summary["answered"] + summary["cancelled"] <= summary["requests"]
    assert summary["answered"] >= 1 and 0 < summary["model_ready_s"]
    assert summary["pauses"] >= 4 and 0 <= summary["pauses_with_suggestion"] <= summary["pauses"]
    assert report["files"][0].count("/") >= 1  # a package/path of the real-code dev split first
    if summary["fills_completed"]:  # every fill has these stages, whatever it decodes with
        assert {"queue", "canvas", "postprocess"} <= set(summary["stages_ms_p50"])
    # The tiny model's fills are often empty: a suggestion may never come, but not before the model was ready.
    assert summary["first_suggestion_s"] is None or summary["first_suggestion_s"] > summary["model_ready_s"]
    assert summary["peak_rss_mb"] is None or summary["peak_rss_mb"] > 50
    # One notification per request (the first, untimed one included) that the server answered or stopped.
    assert len(report["server_timings"]) >= summary["answered"] + 1
    assert summary["fills_completed"] == sum(t["outcome"] == "filled" for t in report["server_timings"]) >= 1


CHANGES = [(0.0, 1), (1.0, 2), (2.0, 3)]  # (time sent, version): didOpen, then two didChange


@pytest.mark.parametrize(
    "version, items, arrived, error, expected",
    [
        (2, 1, 1.5, False, "answered"),  # no edit since the request
        (2, 0, 1.5, False, "answered"),  # empty, but for the current text
        (2, 0, 2.5, False, "cancelled"),  # an edit came first, and the answer is empty
        (2, 1, 2.5, False, "stale"),  # an edit came first, yet the answer has items
        (3, 1, 2.5, False, "answered"),
        (2, 0, 2.5, True, "error"),
        (2, 0, None, False, "unanswered"),
    ],
)
def test_bench_load_judges_each_answer_against_the_latest_edit_sent(version, items, arrived, error, expected):
    request = load.Sent(0, version, sent=0.5, arrived=arrived, items=items, error=error)
    assert load.judge(request, CHANGES) == expected
    if expected == "stale":
        assert load.edit_lead_ms(request, CHANGES) == pytest.approx(500)  # v3 was sent at 2.0, the answer came at 2.5


@pytest.mark.parametrize(
    "text, expected",
    [
        ("300@20,100@3", [(300, 20.0), (100, 3.0)]),
        ("5@0.5", [(5, 0.5)]),
        ("300", None),
        ("0@20", None),
        ("10@-1", None),
        ("", None),
    ],
)
def test_bench_load_phases_are_parsed(text, expected):
    assert load.parse_phases(text) == expected


def test_bench_load_runs_against_the_real_server_and_its_counts_add_up(tmp_path):
    assert main(["bench", "load", "--model", "tiny", "--phases", "6@20,3@5", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "load.json").read_text())
    summary = report["summary"]
    assert [p["requests"] for p in summary["phases"]] == [6, 3] and summary["total"]["requests"] == 9
    for counts in (*summary["phases"], summary["total"]):
        assert sum(counts[outcome] for outcome in load.OUTCOMES) == counts["requests"]
        assert counts["with_suggestion"] <= counts["answered"] and len(counts["stale_edit_lead_ms"]) == counts["stale"]
        assert counts["latency_ms_p50"] <= counts["latency_ms_p95"]
    total = summary["total"]
    assert total["unanswered"] == 0 and total["error"] == 0 and total["answered"] >= 1
    assert [sum(p[key] for p in summary["phases"]) for key in load.OUTCOMES] == [total[key] for key in load.OUTCOMES]
    assert len(report["requests"]) == 9 and all(r["arrived"] >= r["sent"] for r in report["requests"])
    assert summary["rss_before_mb"] is None or (summary["rss_before_mb"] > 50 and summary["rss_growth"] is not None)
    assert set(summary["server"]) == {"filled", "reused", "no_hole", "cancelled"}
    assert sum(summary["server"].values()) == 10  # a notification for each request, the warm-up's included


def test_bad_arguments_are_refused(tmp_path, capsys):
    assert main(["bench", "engine", "--model", "tiny", "--limit", "0", "--out", str(tmp_path)]) == 2
    assert main(["bench", "readme", "--out", str(tmp_path / "none"), "--readme", str(tmp_path / "R.md")]) == 2
    assert main(["bench", "load", "--model", "tiny", "--phases", "10", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "R.md").exists()


def test_bench_engine_prompts_a_healed_checkpoint_as_the_server_does(monkeypatch, tiny_fillers, indented_return_task):
    from dgemma_lsp.diffusion import sampler as denoising
    from dgemma_lsp.diffusion.sampler import DenoiseResult

    filler, healing = tiny_fillers
    tokenizer = filler.loaded.tokenizer
    hole = decoding.Hole("humaneval-single", indented_return_task, FillKind.LINE, 4)
    calls = []

    def fake_denoise(model, prompt_ids, **kwargs):
        calls.append((prompt_ids, kwargs["clamps"]))
        return DenoiseResult([tokenizer.encode("        return 1", add_special_tokens=False)], [True], 1, 1, 0)

    monkeypatch.setattr(denoising, "denoise", fake_denoise)
    healed = decoding.run_hole(healing, hole, "diffusion", seed=0)
    plain = decoding.run_hole(filler, hole, "diffusion", seed=0)
    (healed_prompt, pins), (plain_prompt, no_pins) = calls
    assert tokenizer.decode(healed_prompt).endswith("\n<fim_middle>") and no_pins is None
    assert tokenizer.decode(plain_prompt).endswith("\n        <fim_middle>")
    assert pins and isinstance(pins[0], int) and tokenizer.decode([pins[0]]).strip(" ") == ""  # indentation pinned
    assert healed["middle"] == plain["middle"] == "        return 1"


def test_the_lsp_summary_says_how_many_requests_were_cancelled_in_flight():
    requests = [
        lsp.Request(0.0, answered=0.1),
        lsp.Request(0.0, cancelled=True),
        lsp.Request(0.0, answered=0.3),
        lsp.Request(0.0, cancelled=True),
    ]
    result = {
        "replay": lsp.Replay(requests=requests),
        "cpu_seconds": 1.0,
        "peak_rss_mb": 80.0,
        "ready_s": 0.5,
        "first_suggestion_s": 0.9,
    }
    timings = [
        {"request": "r1", "outcome": "cancelled", "totalMs": 40.0, "streamClosed": True},
        {"request": "r2", "outcome": "superseded", "totalMs": 30.0, "streamClosed": True},
        {"request": "r3", "outcome": "no hole", "totalMs": 0.3},
    ]
    summary = lsp.summarize(result, timings, remote=True)
    assert summary["cancelled_share"] == 0.5 and summary["streams_closed_on_cancel"] == 2
    text = lsp.format_summary(summary)
    assert "cancelled in flight  50% of requests (2 HTTP streams" in text and "p95 300 ms" in text
    assert "first suggestion     0.90 s after start" in text
    assert "HTTP streams" not in lsp.format_summary(lsp.summarize(result, []))  # a local model has none
    assert "first suggestion     - after" in lsp.format_summary(
        lsp.summarize(result | {"first_suggestion_s": None}, [])
    )


def test_bench_soak_runs_a_short_day_on_the_tiny_model_with_no_errors(tmp_path):
    arguments = ["--model", "tiny", "--minutes", "0.2", "--documents", "0", "--seed", "1", "--out", str(tmp_path)]
    assert main(["bench", "soak", *arguments]) == 0  # 1 would mean an error or a stale answer
    report = json.loads((tmp_path / "soak.json").read_text())
    summary = report["summary"]
    assert summary["requests"] == sum(summary["outcomes"].values()) > 0
    assert summary["outcomes"]["error"] == summary["outcomes"]["stale"] == summary["outcomes"]["unanswered"] == 0
    assert report["samples"] and all(sample["fds"] for sample in report["samples"])
    # a day shorter than 5 minutes has one idle sample (the end); growth then compares the first and last samples
    assert len(report["idle_samples"]) == 1 and summary["rss_end_mb"] == report["samples"][-1]["rss_mb"]
    assert main(["bench", "soak", "--model", "tiny", "--minutes", "0", "--out", str(tmp_path)]) == 2
    readme_file = tmp_path / "README.md"
    readme_file.write_text("# x\n")
    assert main(["bench", "readme", "--out", str(tmp_path), "--readme", str(readme_file)]) == 0
    assert "**bench soak**" in readme_file.read_text() and "stale 0, errors 0" in readme_file.read_text()
