"""One typed, defaulted settings tree, parsed once from what editors send.

Editors send camelCase keys (`initializationOptions`, `workspace/didChangeConfiguration` under the `dgemma`
section, the CLI as JSON). A bad value falls back to its default with a logged message; it never fails the
request. The parser is hand-written rather than cattrs (which lsprotocol already pulls in) because cattrs rejects
a whole structure on the first bad field, and here every field must fall back on its own.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplerSettings:
    """The released sampler's knobs. Unset (None) means the checkpoint's own value (`loading.checkpoint_sampler`:
    its generation_config.json), else the released default (RELEASED_SAMPLER); `over` resolves them."""

    max_denoising_steps: int | None = None
    entropy_bound: float | None = None
    t_max: float | None = None
    t_min: float | None = None
    stability_threshold: int | None = None
    confidence_threshold: float | None = None
    # Feed each step's logits back as self-conditioning. The released model is trained with it half the time, so
    # it also works without; off saves a softmax and a [C, V] x [V, H] matmul per step.
    self_conditioning: bool | None = None

    def __post_init__(self) -> None:
        if self.max_denoising_steps is not None and self.max_denoising_steps < 1:
            raise ValueError("max_denoising_steps must be at least 1")
        if any(t is not None and t <= 0 for t in (self.t_min, self.t_max)):
            raise ValueError("temperatures must be positive")
        if self.t_min is not None and self.t_max is not None and self.t_min > self.t_max:
            raise ValueError("temperatures must satisfy t_min <= t_max")
        if any(v is not None and v <= 0 for v in (self.entropy_bound, self.confidence_threshold)):
            raise ValueError("entropy_bound and confidence_threshold must be positive")

    def over(self, defaults: SamplerSettings) -> SamplerSettings:
        """These settings where set, `defaults` elsewhere; `defaults` with a logged message where the two do not
        make a valid whole (a `tMin` set above the checkpoint's `tMax`)."""
        chosen = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        try:
            return dataclasses.replace(defaults, **chosen)
        except ValueError as error:
            log.warning(
                "settings: sampler %s rejected over the checkpoint's (%s); using the checkpoint's", chosen, error
            )
            return defaults


# `DiffusionGemmaGenerationConfig`'s values for the released checkpoint: what a checkpoint that names none gets.
RELEASED_SAMPLER = SamplerSettings(
    max_denoising_steps=48,
    entropy_bound=0.1,
    t_max=0.8,
    t_min=0.4,
    stability_threshold=1,
    confidence_threshold=0.005,
    self_conditioning=True,
)


@dataclass(frozen=True)
class ContextSettings:
    prefix_tokens: int = 384  # budget for text before the hole, collected outward from the cursor
    suffix_tokens: int = 128  # budget for text after the hole
    outline_tokens: int = 0  # budget for the file's imports and signatures outside the window (`text/outline.py`)
    related_tokens: int = 0  # budget for definitions from other workspace files that the code uses (`related.py`)


@dataclass(frozen=True)
class CompletionSettings:
    candidates: int = 1  # inline completions per automatic request (generated as one batch)
    invoked_candidates: int = 3  # when the user asks explicitly (VS Code: Alt+\\), offer several to cycle through
    line_canvases: int = 1  # canvases for a rest-of-line fill
    block_canvases: int = 4  # canvases for a block or function body (chained block-autoregressively)
    seed: int | None = None  # fixed sampling seed; None draws a fresh one per request
    prefetch: bool = True  # after offering a suggestion, fill the spot it leads to as if accepted (lowest priority)
    syntax_guided: bool = True  # where the code around needs a statement or a block opener, start the fill with one
    # Greedy decoding of a line: the likeliest first tokens tried, the branch after which the text after the
    # cursor is likeliest offered first (`Filler.greedy`). 1 is plain greedy decoding.
    line_branches: int = 4
    # The same for an automatic request (while the user types or moves): the cheaper answer within the budget of a
    # pause. Real-code dev, 290 line holes of four kinds, 3 against 4 branches in one process: the same exact
    # matches but 2 of 100 column-0 lines, p50 -32% to -51%; HumanEval's 150-task sample: 55 exact against 60, so
    # an explicit request, `fill` and `infill` keep `line_branches` (model card).
    automatic_line_branches: int = 3
    # Greedy decoding of a block or body: the likeliest first tokens tried, the branch likeliest to end where the
    # body ends offered first; one that writes a stub back never (`Filler.greedy`). 1 is plain greedy decoding.
    block_branches: int = 1
    # Python line fills: branches that bind the names the code below uses undefined, and fewer undefined names
    # ranked first (`guidance.needed_names`, `pipeline.undefined_after`); needs line_branches > 1.
    bind_names: bool = True
    # Greedy decoding: up to this many tokens copied from the prompt or the text after the hole (what followed the
    # last tokens' latest earlier occurrence) are checked in the same forward as each branch's next token, and
    # kept where greedy decoding would have written them (`drafting.PromptLookup`); 0 decodes one token per
    # forward. With fp32 matmuls the fills are greedy's, token for token (40 dev and HumanEval holes: 0 differ);
    # bfloat16 matmuls round a forward of several positions a little differently from one of one, so near-ties
    # can go the other way (9 of 40 fills differ; exact match on dev and HumanEval as with fp32: model card). Dev and
    # HumanEval, 40 holes (`bench drafting`, bfloat16): 1.82 tokens per branch forward, forwards per fill 45 -> 24,
    # decoding p50 794 -> 628 ms; 3 and 4 tokens commit a little more for about the same time.
    draft_tokens: int = 2

    def __post_init__(self) -> None:
        if (
            min(
                self.candidates,
                self.invoked_candidates,
                self.line_canvases,
                self.block_canvases,
                self.line_branches,
                self.automatic_line_branches,
                self.block_branches,
            )
            < 1
        ):
            raise ValueError("candidates, canvases and branches must be at least 1")


@dataclass(frozen=True)
class LimitSettings:
    max_file_bytes: int = 2_000_000  # larger buffers are not filled (an empty result, not an error)


@dataclass(frozen=True)
class RemoteSettings:
    """A model served over HTTP (`model` is an OpenAI-compatible base URL, `remote.py`). The API key itself is
    never a setting: only the name of the environment variable that holds it."""

    served_model: str | None = None  # the `model` field of each request; None: the first the server lists
    api_key_env: str = "DGEMMA_API_KEY"  # environment variable holding the key; unset or empty: no Authorization
    timeout: float = 10.0  # seconds for one fill, connection to last byte
    line_tokens: int = 64  # max_tokens for a rest-of-line fill (the stream is closed once the line is complete)
    block_tokens: int = 512  # max_tokens for a block or function body
    temperature: float | None = None  # None: the server's own (vLLM `--generation-config vllm`)

    def __post_init__(self) -> None:
        if self.timeout <= 0 or min(self.line_tokens, self.block_tokens) < 1:
            raise ValueError("timeout and token limits must be positive")


# Files that hold secrets: no completion, code action or headless fill sends their text to the model, and no fill
# writes into them. Globs without a "/" match the file name, with one the whole path; case is ignored.
DEFAULT_EXCLUDE = (".env*", "*.pem", "*.key", "id_*", "*secret*")


@dataclass(frozen=True)
class Settings:
    # "embedded", "tiny" (random weights, tests), a checkpoint directory, a HF id, or an OpenAI-compatible server's
    # base URL (`http://host:8000/v1`: vLLM serving DiffusionGemma; see `remote`)
    model: str = "embedded"
    allow_download: bool = False  # a HF id is resolved from the local cache only unless this is true
    prompt_format: Literal["auto", "fim", "chat", "prefix"] = "auto"  # auto: what the checkpoint declares
    # "diffusion" (the denoiser), "greedy" (the encoder as a causal LM, one token per forward), "drafted" (greedy's
    # tokens, each forward verifying a canvas the denoiser drafted in the forward before: `canvas_drafter.py`; needs
    # the checkpoint's drafter.safetensors), or "auto": what the checkpoint's config.json names (`dgemma_decoding`),
    # else diffusion.
    decoding: Literal["auto", "diffusion", "greedy", "drafted"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # The most torch threads a fill on the CPU runs on; 0 leaves torch's default (the machine's cores, or
    # OMP_NUM_THREADS). Each fill takes as many of them as other processes leave cores idle (`cpu_threads`: threads
    # that spin briefly between operations wait for one the system put aside).
    threads: int = 0
    # CPU matrix products of the lean encoder forward (greedy decoding): "bfloat16" multiplies by bfloat16 copies of
    # the projections through oneDNN where the CPU has bfloat16 units (AMX, AVX-512 BF16), "float32" by the model's
    # own weights; "auto" picks bfloat16 where available (`lean.pack_bfloat16`, model card "CPU speed").
    matmuls: Literal["auto", "float32", "bfloat16"] = "auto"
    context: ContextSettings = field(default_factory=ContextSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)  # unset: each checkpoint's own
    limits: LimitSettings = field(default_factory=LimitSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE  # see DEFAULT_EXCLUDE; `walk.excluded_by` matches them


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_settings(raw: Any, base: Settings | None = None) -> Settings:
    """Settings from an editor's JSON-like value, on top of `base` (defaults when None). Never raises."""
    base = base or Settings()
    if raw is None:
        return base
    if isinstance(raw, dict) and isinstance(raw.get("dgemma"), dict):
        raw = raw["dgemma"]  # a whole configuration object, not just our section
    return _parse_dataclass(type(base), raw, base, "")


def _parse_dataclass(cls, raw: Any, base, path: str):
    if not isinstance(raw, dict):
        log.warning("settings: %s should be an object, got %r; keeping defaults", path or "<root>", raw)
        return base
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = camel(f.name)
        current = getattr(base, f.name)
        if key not in raw and f.name not in raw:
            values[f.name] = current
            continue
        value = raw[key] if key in raw else raw[f.name]
        values[f.name] = _parse_value(hints[f.name], value, current, f"{path}{key}")
    known = {camel(f.name) for f in dataclasses.fields(cls)} | {f.name for f in dataclasses.fields(cls)}
    for key in raw.keys() - known:
        log.warning("settings: unknown key %s%s ignored", path, key)
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        log.warning("settings: %s rejected (%s); keeping defaults", path or "<root>", error)
        return base


def _parse_value(hint, value: Any, current: Any, path: str):
    if dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, current, path + ".")
    ok, parsed = _coerce(hint, value)
    if not ok:
        log.warning("settings: %s=%r is not a valid %s; using %r", path, value, _describe(hint), current)
        return current
    return parsed


def _coerce(hint, value: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return (value in typing.get_args(hint)), value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for option in typing.get_args(hint):
            if option is type(None):
                if value is None:
                    return True, None
                continue
            ok, parsed = _coerce(option, value)
            if ok:
                return True, parsed
        return False, None
    if origin is tuple:  # tuple[X, ...]: a JSON list of X
        (item, _) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            return False, None
        parsed = [_coerce(item, element) for element in value]
        return all(ok for ok, _ in parsed), tuple(element for _, element in parsed)
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return False, None
        return True, value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return False, None
        return True, float(value)
    if hint is str:
        return (isinstance(value, str) and bool(value.strip())), value
    return False, None


def _describe(hint) -> str:
    return re.sub(r"typing\.", "", str(hint)) if not isinstance(hint, type) else hint.__name__
