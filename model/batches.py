"""The training data pipeline: FIM examples from a corpus jsonl, cut into block-diffusion items, batched.

Everything here is a deterministic function of (seed, stream position), which is what makes `train.py --resume`
continue exactly.
"""

from __future__ import annotations

import json
import lzma
import math
import random
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fim

from dgemma_lsp.diffusion.tokens import EOS, PAD, special_ids


@dataclass
class Item:
    """One training example, ready to batch."""

    encoder_ids: list[int]  # prompt + response blocks before k
    targets: list[int]  # next token for each encoder position (the last predicts block k's first token)
    weights: list[float]  # AR weight per encoder position
    prompt_len: int
    canvas: list[int]  # block k (clean)


def make_item(example: fim.FimExample, canvas_length: int, rng: random.Random, ids: dict, prompt_weight: float) -> Item:
    response = example.response
    blocks = math.ceil(len(response) / canvas_length)
    filled = response + [ids[EOS]] * (blocks * canvas_length - len(response))  # supervised EOS fill
    k = rng.randrange(blocks)
    encoder_ids = example.prompt + filled[: k * canvas_length]
    targets = encoder_ids[1:] + [filled[k * canvas_length]]
    n = len(example.prompt)
    weights = [prompt_weight if j + 1 < n else 1.0 for j in range(len(encoder_ids))]
    return Item(encoder_ids, targets, weights, n, filled[k * canvas_length : (k + 1) * canvas_length])


def read_corpus(path: Path, languages: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(language, text) of each file of a corpus jsonl (or .jsonl.xz: 31 MB instead of 214, so the corpus fits
    what travels to a lent GPU machine), in file order; only the given languages when `languages` is set."""
    opener = lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [
            (r["language"], r["text"])
            for r in map(json.loads, f)
            if r.get("text") and (not languages or r["language"] in languages)
        ]


class ExampleStream:
    """Endless, seeded FIM items over the files of a corpus: epochs of seeded file orders, a few holes per file.

    The position (epoch, file index in the epoch's order, hole index in the file) fully determines what comes
    next: each file visit gets its own `random.Random` derived from (seed, epoch, index), so a resumed run
    regenerates exactly the items an uninterrupted one would have seen.
    """

    CHARS_PER_HOLE = 3000  # long files give several holes per visit (capped), short ones one

    def __init__(
        self, records, tokenizer, canvas_length, settings: fim.FimSettings, seed, prompt_weight, position=(0, 0, 0)
    ):
        self.records, self.tokenizer, self.canvas_length = records, tokenizer, canvas_length
        self.settings, self.seed, self.prompt_weight = settings, seed, prompt_weight
        self.position = tuple(position)
        self.ids = special_ids(tokenizer)

    def _order(self, epoch: int) -> list[int]:
        return random.Random(f"{self.seed}:order:{epoch}").sample(range(len(self.records)), len(self.records))

    def __iter__(self):
        """Yields (item, position of this item)."""
        epoch, index, hole = self.position
        while True:
            order = self._order(epoch)
            for i in range(index, len(order)):
                language, text = self.records[order[i]]
                rng = random.Random(f"{self.seed}:{epoch}:{i}")
                holes = min(8, 1 + len(text) // self.CHARS_PER_HOLE)
                sites = fim.Sites(text, language)
                for h in range(holes):
                    example = fim.sample_example(text, language, self.tokenizer, rng, self.settings, sites)
                    item = (
                        None
                        if example is None
                        else make_item(example, self.canvas_length, rng, self.ids, self.prompt_weight)
                    )
                    if h >= hole and item is not None:
                        yield item, (epoch, i, h)
                hole = 0
            epoch, index = epoch + 1, 0


class Batcher:
    """Packs stream items into batches of at most `batch_tokens` padded tokens (rows x (longest + canvas))."""

    def __init__(self, stream: ExampleStream, batch_tokens: int):
        self.items, self.batch_tokens, self.pending = iter(stream), batch_tokens, None

    def next_batch(self, canvas_length: int) -> tuple[list[Item], tuple]:
        """The batch and the stream position of the first item not in it (where a resumed run starts)."""
        batch: list[Item] = []
        while True:
            if self.pending is None:
                self.pending = next(self.items)
            item, position = self.pending
            longest = max(len(i.encoder_ids) for i in [*batch, item])
            if batch and (len(batch) + 1) * (longest + canvas_length) > self.batch_tokens:
                return batch, position
            batch.append(item)
            self.pending = None


def collate(items: list[Item], ids: dict) -> dict[str, torch.Tensor]:
    """Left-padded tensors. Positions restart at 0 on each row's first real token, as at inference (batch 1)."""
    length = max(len(i.encoder_ids) for i in items)
    canvas_length = len(items[0].canvas)

    def left_pad(rows, value, dtype):
        return torch.tensor([[value] * (length - len(r)) + list(r) for r in rows], dtype=dtype)  # [B, T]

    lengths = torch.tensor([len(i.encoder_ids) for i in items])  # [B]
    attention_mask = left_pad([[1] * len(i.encoder_ids) for i in items], 0, torch.long)  # [B, T]
    position_ids = (torch.arange(length)[None, :] - (length - lengths)[:, None]).clamp(min=0)  # [B, T]
    is_response = left_pad(
        [[j + 1 >= i.prompt_len for j in range(len(i.encoder_ids))] for i in items], False, torch.bool
    )  # [B, T]: the position's target is a response token
    return dict(
        input_ids=left_pad([i.encoder_ids for i in items], ids[PAD], torch.long),
        attention_mask=attention_mask,
        position_ids=position_ids,
        targets=left_pad([i.targets for i in items], ids[PAD], torch.long),
        weights=left_pad([i.weights for i in items], 0.0, torch.float32),
        is_response=is_response,
        canvas=torch.tensor([i.canvas for i in items], dtype=torch.long),  # [B, C]
        decoder_attention_mask=F.pad(attention_mask, (0, canvas_length), value=1),  # [B, T + C]
        decoder_position_ids=lengths[:, None] + torch.arange(canvas_length)[None, :],  # [B, C]
    )


class BatchSource:
    """Collated batches and the data position to resume from, in-process or from `workers` DataLoader processes.

    In-process (workers = 0) the position is the stream's (epoch, file, hole). With workers, each one packs its
    own slice of the files (every `workers`-th, own seed) and the DataLoader takes their batches in turn, so the
    order is still a function of the seed; the position is then one stream position per slice and the slice
    whose batch comes next (a resumed DataLoader starts its turns there). A GPU eats
    batches faster than one core makes them (~100k tokens/s here); on a CPU the model is the bottleneck.
    """

    def __init__(
        self,
        records,
        tokenizer,
        canvas_length: int,
        settings: fim.FimSettings,
        seed,
        prompt_weight: float,
        batch_tokens: int,
        workers: int = 0,
        position=None,
    ):
        self.workers, self.canvas_length = workers, canvas_length
        if workers == 0:
            start = tuple(position) if position else (0, 0, 0)
            if isinstance(position, dict) or len(start) != 3:
                raise ValueError("this run's data position was saved with data workers: resume with the same count")
            stream = ExampleStream(records, tokenizer, canvas_length, settings, seed, prompt_weight, start)
            self.batcher, self.ids = Batcher(stream, batch_tokens), special_ids(tokenizer)
            return
        position = position or {"next": 0, "slices": [[0, 0, 0] for _ in range(workers)]}
        if not isinstance(position, dict) or len(position["slices"]) != workers:
            raise ValueError(
                f"this run's data position does not fit {workers} data workers: resume with the same count"
            )
        self.positions, self.next = [list(p) for p in position["slices"]], position["next"]
        shards = _Shards(
            records, tokenizer, canvas_length, settings, seed, prompt_weight, batch_tokens, self.positions, self.next
        )
        loader = torch.utils.data.DataLoader(
            shards, batch_size=None, num_workers=workers, prefetch_factor=4, persistent_workers=True
        )
        self.loader = iter(loader)

    def next_batch(self) -> tuple[dict[str, torch.Tensor], list]:
        """A collated batch and the position after it."""
        if self.workers == 0:
            items, position = self.batcher.next_batch(self.canvas_length)
            return collate(items, self.ids), list(position)
        part, position, batch = next(self.loader)
        self.positions[part], self.next = list(position), (part + 1) % self.workers
        return batch, {"next": self.next, "slices": [list(p) for p in self.positions]}


class _Shards(torch.utils.data.IterableDataset):
    """One DataLoader worker's batches: a slice of every n-th file, its own seed, from its saved position. Worker 0
    takes the slice whose turn is next."""

    def __init__(
        self, records, tokenizer, canvas_length, settings, seed, prompt_weight, batch_tokens, positions, first: int
    ):
        super().__init__()
        self.args = (tokenizer, canvas_length, settings, seed, prompt_weight)
        self.records, self.batch_tokens, self.positions, self.first = records, batch_tokens, positions, first

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        w, n = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        part = (w + self.first) % n
        tokenizer, canvas_length, settings, seed, prompt_weight = self.args
        stream = ExampleStream(
            self.records[part::n],
            tokenizer,
            canvas_length,
            settings,
            f"{seed}:{part}/{n}",
            prompt_weight,
            tuple(self.positions[part]),
        )
        batcher, ids = Batcher(stream, self.batch_tokens), special_ids(tokenizer)
        while True:
            items, position = batcher.next_batch(canvas_length)
            yield part, list(position), collate(items, ids)
