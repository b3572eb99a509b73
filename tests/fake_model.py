"""A scripted stand-in for the model, for tests of the headless commands that need fills which exist and parse.

The shipped embedded model is too weak to fill every stub with code that parses, and the random tiny model writes
noise, so a test of `fill --write` followed by `fill --check` would assert the model's luck. `ScriptedModel` wraps
the seeded tiny model: its encoder really runs (so the prompt cache and block-autoregressive canvases work), but
the decoder's logits are one-hot on a scripted answer, candidate i getting `answers[i % len(answers)]`. Everything
after the model (the engine's sampler, decoding, post-processing, the syntax checks, writing files) is the real
pipeline.

Run as a script it is the CLI with the scripted model: `python tests/fake_model.py '["return 0;"]' fill ...`
(the subprocess tests of `--verify` use this to be killed mid-run).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import types

import torch

from dgemma_lsp.diffusion import loading
from dgemma_lsp.diffusion.tokens import FIM_MIDDLE
from dgemma_lsp.settings import parse_settings

_real_load = loading.load


class ScriptedModel:
    def __init__(self, real, tokenizer, eos_id: int, answers: list[str]) -> None:
        self.real, self.config, self.device = real, real.config, real.device
        self.model = types.SimpleNamespace(encoder=self._encode)
        self.fim_middle = tokenizer.convert_tokens_to_ids(FIM_MIDDLE)
        self.answers = [tokenizer(a, add_special_tokens=False)["input_ids"] + [eos_id] for a in answers]
        self.eos_id = eos_id
        self.prompt_end = 0  # position after the last prompt token: the middle's first token sits there
        self.calls = 0  # decoder forwards, for tests

    def _encode(self, input_ids, position_ids, **kwargs):
        # A prompt ends with <fim_middle>; a finished canvas being encoded never does (we never write it).
        if input_ids.shape[0] == 1 and int(input_ids[0, -1]) == self.fim_middle:
            self.prompt_end = int(position_ids[0, -1]) + 1
        return self.real.model.encoder(input_ids=input_ids, position_ids=position_ids, **kwargs)

    def __call__(self, decoder_input_ids, decoder_position_ids, **kwargs):
        self.calls += 1
        n, length = decoder_input_ids.shape
        logits = torch.full((n, length, self.config.text_config.vocab_size), -30.0)  # [n, C, V]
        offsets = (decoder_position_ids[0] - self.prompt_end).tolist()
        for row in range(n):
            ids = self.answers[row % len(self.answers)]
            for j, offset in enumerate(offsets):
                logits[row, j, ids[offset] if offset < len(ids) else self.eos_id] = 30.0
        return types.SimpleNamespace(logits=logits)


@functools.cache
def _tiny():
    return _real_load(parse_settings({"model": "tiny", "promptFormat": "fim"}))


def scripted_loader(answers: list[str]):
    """A drop-in for `loading.load` that returns the scripted model whatever the settings name."""

    def load(settings, progress=None):
        tiny = _tiny()
        model = ScriptedModel(tiny.model, tiny.tokenizer, tiny.eos_id, answers)
        return dataclasses.replace(tiny, name=f"scripted{answers!r}", model=model)

    return load


if __name__ == "__main__":
    loading.load = scripted_loader(json.loads(sys.argv[1]))
    from dgemma_lsp.cli import main

    sys.exit(main(sys.argv[2:]))
