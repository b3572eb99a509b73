"""The fill pipeline as plain functions: hole -> canvas -> denoising -> post-processing.

The LSP features, the headless CLI and the evaluation harness all call `Filler.fill`; none of this imports pygls.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from dgemma_lsp.diffusion import lean
from dgemma_lsp.diffusion.autoregressive import continuation_logprobs, greedy_branches
from dgemma_lsp.diffusion.cpu_threads import IdleCores
from dgemma_lsp.diffusion.drafting import PromptLookup
from dgemma_lsp.diffusion.loading import LoadedModel
from dgemma_lsp.diffusion.sampler import DenoiseResult, Draft, PromptCache, denoise
from dgemma_lsp.diffusion.tokens import newline_ids, token_texts
from dgemma_lsp.fill.context import Canvas, build_canvas, head_within, healing_clamps, token_offsets
from dgemma_lsp.fill.guidance import MAX_LINTED_CHARS, binding_openings, hole_need, needed_names, opening_clamps
from dgemma_lsp.fill.holes import FillKind, Hole, untyped_indentation
from dgemma_lsp.fill.postprocess import indent_of, indent_width, postprocess
from dgemma_lsp.fill.ranking import Fill, FillOutcome, finish_middles, keeps_syntax, leaves_stub, rank_by_syntax
from dgemma_lsp.fill.related import Workspace
from dgemma_lsp.settings import Settings
from dgemma_lsp.text.brackets import depth_profile
from dgemma_lsp.text.lint import undefined_names
from dgemma_lsp.text.syntax import language_named

log = logging.getLogger(__name__)

# How much of the text after a line hole judges the greedy branches (`Filler.greedy`): enough for the next lines
# that use what the line defines, little enough that scoring (one batched forward) stays a fraction of decoding.
# Real-code dev, 100 indented lines: 128, 32 and 8 tokens all match 16, at a p50 of 1,697, 1,270 and 1,190 ms;
# HumanEval's 150-task sample: 60 exact / 70 passed with 128 and with 32 (model card).
SCORED_SUFFIX_TOKENS = 32
# An automatic request (typing) scores fewer: 260 dev holes of three line kinds on the typing path, 32 / 16 / 8
# tokens: 50 exact each, edit similarity 0.608 / 0.606 / 0.602, a judged rest-of-line p50 184 / 114 / 99 ms. An
# explicit request keeps 32: HumanEval's 150-task sample gave 59 exact / 69 passed with 16 against 60 / 70.
AUTOMATIC_SCORED_SUFFIX_TOKENS = 16
# An automatic request's line decodes its likeliest first token alone where the model gives it at least this
# probability (and it does not end the line): no other branch to decode or judge. Typing path, dev, arms hole by
# hole in one process (prompt cached): 150 holes (50 rest-of-line, 50 indented, 50 column-0), none / 0.9 / 0.8 /
# 0.7: fills unlike none 0 / 0 / 0 / 2, p50 437 / 424 / 390 / 386 ms; 180 other holes, none / 0.9 / 0.7 / 0.5:
# 0 / 0 / 2 / 9 unlike (all worse), p50 450 / 436 / 405 / 365 ms; 0.8 on those (another process): 4 unlike, 41
# exact against 40, the same edit similarity.
AUTOMATIC_ALONE_ABOVE: float | None = 0.8

__all__ = ["Fill", "FillOutcome", "Filler", "body_end", "finish_middles", "is_inert", "keeps_syntax", "rank_by_syntax"]


class Filler:
    """Owns a loaded model and runs one fill at a time (a model is not re-entrant; requests queue on the lock)."""

    def __init__(self, loaded: LoadedModel, settings: Settings) -> None:
        self.loaded = loaded
        self.settings = settings
        self.prompt_cache = PromptCache()
        self._lock = threading.Lock()
        # On the CPU a fill runs on the cores other processes leave idle (`cpu_threads`); torch's thread count now
        # (`threads`, else its default) is the most it gets.
        self._idle_cores = IdleCores(torch.get_num_threads()) if loaded.model.device.type == "cpu" else None

    def fill(
        self,
        text: str,
        hole: Hole,
        language: str | None,
        *,
        candidates: int | None = None,
        is_cancelled: Callable[[], bool] = lambda: False,
        on_draft: Callable[[Draft], None] | None = None,
        request_id: str = "-",
        workspace: Workspace | None = None,
        automatic: bool = False,
    ) -> FillOutcome:
        """The fills for `hole`, best first. `workspace`: other files the prompt may draw definitions from.
        `automatic`: a request the user did not ask for (typing, moving), decoded with `automaticLineBranches`."""
        if hole.kind is FillKind.NONE:
            return FillOutcome([])
        missing = untyped_indentation(text, hole)
        if missing:  # filled as if the editor had indented the line, the indentation then put before each fill
            typed = text[: hole.start] + missing + text[hole.end :]
            moved = Hole(hole.kind, hole.start + len(missing), hole.end + len(missing), hole.indent)
            outcome = self.fill(
                typed,
                moved,
                language,
                candidates=candidates,
                is_cancelled=is_cancelled,
                on_draft=on_draft,
                request_id=request_id,
                workspace=workspace,
                automatic=automatic,
            )
            outcome.fills = [Fill(missing + f.text, hole.start, hole.end, f.raw) for f in outcome.fills]
            return outcome
        settings = self.settings
        loaded = self.loaded
        if self._idle_cores is not None:
            self._idle_cores.apply()
        timings: dict[str, float] = {}
        started = time.perf_counter()
        canvas = self.canvas_for(text, hole, language, workspace)
        timings["canvas"] = time.perf_counter() - started

        n = candidates or settings.completion.candidates
        clamps = self.clamps_for(text, hole, language, canvas.healed)
        generator = torch.Generator(device=loaded.model.device)
        generator.manual_seed(settings.completion.seed if settings.completion.seed is not None else torch.seed())
        fitted_of: dict[tuple[int, ...], str] = {}  # post-processed middles, so a greedy retry's judgement is reused

        def fitted(ids: list[int]) -> str:
            key = tuple(ids)
            if key not in fitted_of:
                fitted_of[key] = postprocess(self.middle_text(ids, canvas), text=text, hole=hole, language=language)
            return fitted_of[key]

        with self._lock:
            waited = time.perf_counter()
            timings["queue"] = waited - started - timings["canvas"]
            if loaded.decoding in ("greedy", "drafted"):

                def fits(ids: list[int]) -> bool:
                    fill = fitted(ids)
                    return bool(fill) and keeps_syntax(Fill(fill, hole.start, hole.end, ""), text, language)

                binds = settings.completion.bind_names

                def undefined(ids: list[int]) -> float:
                    return undefined_after(text, hole, fitted(ids), language) if binds else 0

                def stub(ids: list[int]) -> bool:
                    return leaves_stub(Fill(fitted(ids), hole.start, hole.end, ""), text, language)

                # Names only where a line is judged: one line branch is plain greedy decoding, with no judge.
                judged_line = hole.kind is FillKind.LINE and self.line_width(automatic) > 1
                words = needed_names(text, hole, language) if binds and judged_line else ()
                openings = binding_openings(text, hole, language, words)
                judge = Judge(fits, undefined, stub)
                result = self.greedy(
                    canvas,
                    hole,
                    language,
                    clamps,
                    fitted,
                    judge,
                    is_cancelled,
                    words,
                    openings,
                    n,
                    stages=timings,
                    automatic=automatic,
                )
            else:
                result = denoise(
                    loaded.model,
                    canvas.prompt_ids,
                    eos_id=loaded.eos_id,
                    n=n,
                    max_canvases=canvas.max_canvases,
                    sampler=settings.sampler.over(loaded.sampler),
                    clamps=clamps,
                    generator=generator,
                    is_cancelled=is_cancelled,
                    on_draft=on_draft,
                    prompt_cache=self.prompt_cache,
                )
            timings["denoise"] = time.perf_counter() - waited
            timings["forward"] = result.forward_seconds  # model forwards only; denoise - forward is the sampler

        post_started = time.perf_counter()
        fills: list[Fill] = []
        for ids in result.candidates:
            fill = fitted(ids)
            if fill and all(fill != f.text for f in fills):
                fills.append(Fill(fill, hole.start, hole.end, self.middle_text(ids, canvas)))
        fills = rank_by_syntax(fills, text, language)
        timings["postprocess"] = time.perf_counter() - post_started
        timings["total"] = time.perf_counter() - started
        log.info(
            "fill %s: %s hole, %d prompt tokens, %d steps over %d canvases, %d/%d candidates kept; %s",
            request_id,
            hole.kind.value,
            len(canvas.prompt_ids),
            result.steps,
            result.canvases,
            len(fills),
            n,
            " ".join(f"{stage}={seconds * 1000:.0f}ms" for stage, seconds in timings.items()),
        )
        return FillOutcome(
            fills,
            timings,
            result.steps,
            result.encoded_tokens,
            branch_forwards=result.branch_forwards,
            accepted=result.accepted,
        )

    def greedy(
        self,
        canvas: Canvas,
        hole: Hole,
        language: str | None,
        clamps,
        fitted: Callable[[list[int]], str],
        judge: Judge,
        is_cancelled: Callable[[], bool],
        words: tuple[str, ...] = (),
        openings: tuple[str, ...] = (),
        candidates_wanted: int = 1,
        stages: dict[str, float] | None = None,
        automatic: bool = False,
    ) -> DenoiseResult:
        """The middle decoded greedily by the encoder, within the canvases' token budget. Shaped as the sampler's
        result.

        A line hole stops at the first token that holds a newline and is decoded from the `line_width(automatic)`
        likeliest first tokens at once (`greedy_branches`), plus branches that bind the names the
        code after the hole needs (`words` where the model ranks them, `openings` at the line's start:
        `needed_names`, `binding_openings`): a model that reads only the prefix cannot see that the next lines use
        a name this one must bind.

        The branches are ranked by the `judge`: whether they fit the file (no new syntax errors), how many names
        the file then uses undefined (fewer first: a line must not leave the code after it, or itself, using a
        name nothing defines), whether they do anything (`is_inert`: where code follows the hole, a comment or a
        print is ranked after lines that do), then how likely the model finds the text after the hole behind
        each (`continuation_logprobs`): Bayes' rule for infilling with the causal LM as the judge, over the first
        SCORED_SUFFIX_TOKENS of that text (AUTOMATIC_SCORED_SUFFIX_TOKENS for an `automatic` request).

        A block is decoded from `block_branches` first tokens, or from as many as the caller wants candidates
        (one by default: a body costs up to a hundred tokens a branch; `fill --candidates 4` tries four against its
        checks). Its branches are ranked by fit, then whether the function is still a stub with it (`leaves_stub`:
        a stub written back is no fill), undefined names, then how likely the fill is followed by the line after
        the hole (`closing_line`: the body ends there; the code beyond is unrelated to a body and only adds noise).
        The prompt's tokens but the last come from the prompt cache: while the user types, only what they typed
        is encoded. `stages` gets the seconds spent encoding the prompt ("encode"), decoding the branches ("decode")
        and ranking them ("judge").
        """
        stages = {} if stages is None else stages
        loaded = self.loaded
        budget = canvas.max_canvases * loaded.canvas_length
        line = hole.kind is FillKind.LINE
        stops = newline_ids(loaded.tokenizer) if line else frozenset()
        leaves_body = None
        if hole.kind is FillKind.BLOCK:
            ends = (
                body_end(loaded.tokenizer, text_before_hole_line(canvas), hole),
                repetition_end(loaded.tokenizer, language),
            )

            def leaves_body(tokens: list[int]) -> int | None:
                return next((keep for keep in (end(tokens) for end in ends) if keep is not None), None)

        completion = self.settings.completion
        width = self.line_width(automatic) if line else max(completion.block_branches, candidates_wanted)
        cache, encoded, seconds = None, 1, 0.0
        if len(canvas.prompt_ids) > 1:
            cache, new = self.prompt_cache.encode(loaded.model, canvas.prompt_ids[:-1], lean=True)
            encoded, seconds = new + 1, self.prompt_cache.forward_seconds
        stages["encode"] = seconds
        before = copy.deepcopy(cache) if width > 1 and cache is not None else None
        decoding = time.perf_counter()
        branches = greedy_branches(
            loaded.model,
            canvas.prompt_ids,
            width=width,
            eos_id=loaded.eos_id,
            max_new_tokens=budget,
            stop_ids=stops,
            clamps=clamps,
            cache=cache,
            stop=leaves_body,
            is_cancelled=is_cancelled,
            words=words,
            openings=openings,
            texts=token_texts(loaded.tokenizer) if words or openings else (),
            drafts=self.drafts_for(canvas),
            canvas=loaded.drafter if loaded.decoding == "drafted" else None,
            alone_above=AUTOMATIC_ALONE_ABOVE if automatic and line else None,
        )
        candidates, finished = branches.candidates, branches.finished
        stages["decode"] = time.perf_counter() - decoding
        forwards, seconds = branches.forwards, seconds + branches.forward_seconds
        if before is not None and len(candidates) > 1:
            started = time.perf_counter()
            fills = [fitted(ids) for ids in candidates]
            if line:  # fewer undefined names, then more than a comment or a print
                code_follows = bool(canvas.context.suffix.strip())
                inert = [code_follows and is_inert(fill, language) for fill in fills]
                rank: list[tuple[float, float]] = [(judge.undefined(ids), inert[i]) for i, ids in enumerate(candidates)]
            else:  # more than a stub, then fewer undefined names
                rank = [(judge.stub(ids), judge.undefined(ids)) for ids in candidates]
            keys = [(not judge.fits(ids), *rank[i]) for i, ids in enumerate(candidates)]
            # The model judges only the fills the checks leave tied for first, each distinct text once: its
            # forward is most of a line's judging, and the others' order stays the checks' and the branches'.
            best = min(keys)
            contenders = list(dict.fromkeys(f for f, key in zip(fills, keys) if f and key == best))
            score_of = dict.fromkeys(contenders, 0.0)
            if len(contenders) > 1:
                if line:
                    tokens = token_offsets(loaded.tokenizer)
                    scored = AUTOMATIC_SCORED_SUFFIX_TOKENS if automatic else SCORED_SUFFIX_TOKENS
                    suffix, _ = head_within(canvas.context.suffix, scored, tokens)
                else:
                    suffix = closing_line(canvas.context.suffix)
                score_of = dict(zip(contenders, self.suffix_scores(before, canvas, contenders, suffix)))
                forwards += 1
            seconds += time.perf_counter() - started
            scores = [score_of.get(fill, float("-inf")) for fill in fills]
            order = sorted(range(len(candidates)), key=lambda i: (*keys[i], -scores[i]))
            candidates, finished = [candidates[i] for i in order], [finished[i] for i in order]
            stages["judge"] = time.perf_counter() - started  # the fills' processing, scores and checks
        if not line and width == 1 and not fitted(candidates[0]):
            # The one branch left nothing that parses (a statement still open when the budget ran out, a body of
            # comments): try the two likeliest starts, as `block_branches` 2 would; the prompt is cached by now.
            # Real-code dev: empty block-opener fills 8% -> 6%, function bodies 7.5% -> 2.5% (model card).
            spent = {stage: stages.get(stage, 0.0) for stage in ("encode", "decode", "judge")}
            retried = self.greedy(
                canvas, hole, language, clamps, fitted, judge, is_cancelled, candidates_wanted=2, stages=stages
            )
            for stage, value in spent.items():
                stages[stage] = stages.get(stage, 0.0) + value
            return DenoiseResult(
                retried.candidates,
                retried.finished,
                forwards + retried.steps,
                0,
                encoded + retried.encoded_tokens,
                seconds + retried.forward_seconds,
                branches.branch_forwards + retried.branch_forwards,
                branches.accepted + retried.accepted,
            )
        return DenoiseResult(
            candidates, finished, forwards, 0, encoded, seconds, branches.branch_forwards, branches.accepted
        )

    def line_width(self, automatic: bool) -> int:
        """First-token branches of a line fill: `automaticLineBranches` for a request the user did not ask for
        (typing, moving), `lineBranches` for one they did."""
        completion = self.settings.completion
        return completion.automatic_line_branches if automatic else completion.line_branches

    def kernel_warmups(self) -> list[Callable[[], None]]:
        """Steps that compile the kernels fills will need (`lean.kernel_warmups`): a long-running server runs them
        between fills, so its memory holds still over the day."""
        return lean.kernel_warmups(self.loaded.model)

    def drafts_for(self, canvas: Canvas) -> PromptLookup | None:
        """Drafts for greedy decoding (`completion.draftTokens`): copied from the prompt and the text after the hole."""
        tokens = self.settings.completion.draft_tokens
        return PromptLookup(canvas.prompt_ids, canvas.context.suffix_ids, tokens=tokens) if tokens else None

    def suffix_scores(self, cache, canvas: Canvas, fills: list[str], suffix: str) -> list[float]:
        """For each fill, log p(fill + suffix | prompt); -inf for an empty fill (never shown).

        `cache` holds the prompt but its last token. The fill is scored as the model would continue the prompt:
        after the indentation a healed prompt left out (`canvas.healed`), less the line the prompt opened
        (`canvas.opened`). `suffix` is the text after the hole that judges: for a line the head of it
        (SCORED_SUFFIX_TOKENS), where its names are used.
        """
        tokenizer = self.loaded.tokenizer
        kept = [i for i, fill in enumerate(fills) if fill]
        continued = [fills[i].removeprefix(canvas.typed) if canvas.opened else canvas.healed + fills[i] for i in kept]
        continuations = [tokenizer.encode(fill + suffix, add_special_tokens=False) for fill in continued]
        scored = continuation_logprobs(self.loaded.model, cache, canvas.prompt_ids[-1], continuations)
        scores = [float("-inf")] * len(fills)
        for i, score in zip(kept, scored):
            scores[i] = score
        return scores

    def canvas_for(self, text: str, hole: Hole, language: str | None, workspace: Workspace | None = None) -> Canvas:
        """The prompt and canvas budget for a hole, in the loaded model's format and settings."""
        loaded, settings = self.loaded, self.settings
        return build_canvas(
            text,
            hole,
            language,
            loaded.prompt_format,
            settings.context,
            settings.completion,
            loaded.heals_indentation,
            workspace,
        )

    def middle_text(self, ids: list[int], canvas: Canvas) -> str:
        """What the model wrote after the cursor: the format's answer, less the indentation a healed prompt left
        for the canvas to write (the user has typed it already), after the body's first line the prompt opened."""
        return canvas.opened + self.loaded.prompt_format.extract(self.decode(ids)).removeprefix(canvas.healed)

    def clamps_for(
        self, text: str, hole: Hole, language: str | None, healed: str = ""
    ) -> dict[int, int | frozenset[int]]:
        """The middle's first tokens: pinned to the healed indentation (`canvas.healing_clamps`), then narrowed
        to what the syntax needs there (`needs`). Syntax only where the canvas starts with the middle itself: a
        chat model's answer may open with a code fence."""
        loaded = self.loaded
        clamps, first, lead = healing_clamps(healed, loaded.tokenizer, loaded.eos_id) if healed else ({}, 0, "")
        if not self.settings.completion.syntax_guided or not loaded.prompt_format.answers_in_place or first is None:
            return clamps
        spec = language_named(language) if language else None
        comments = spec.comment_starts if spec else ()
        needed = opening_clamps(hole_need(text, hole, language), loaded.tokenizer, loaded.eos_id, lead, comments)
        merged = dict(clamps)
        for position, allowed in needed.items():
            healing = clamps.get(first + position)  # a set where healing narrows this position too, else None
            assert not isinstance(healing, int)  # healing pins single tokens only before `first`
            merged[first + position] = (allowed & healing or healing) if healing else allowed  # never an empty set
        return merged

    def decode(self, ids: list[int]) -> str:
        """The middle's text, cut before any undecodable byte sequence: byte-level tokens can end a canvas
        halfway through a multi-byte character, and U+FFFD must never reach the user's file."""
        text = cast(str, self.loaded.tokenizer.decode(ids, skip_special_tokens=True))  # one sequence, one string
        return text.split("\ufffd", 1)[0]


@dataclass(frozen=True)
class Judge:
    """What ranks a greedy line's branches before the model's own judgement (`Filler.greedy`), from token ids."""

    fits: Callable[[list[int]], bool]  # no syntax error added
    undefined: Callable[[list[int]], float]  # names used undefined in the file with it (`undefined_after`)
    stub: Callable[[list[int]], bool]  # its function still a stub with it (`ranking.leaves_stub`)


def undefined_after(text: str, hole: Hole, fill: str, language: str | None) -> float:
    """How many uses of undefined names the file has with `fill` in the hole: infinite where it does not parse
    with it, 0 for every fill in other languages and in files over MAX_LINTED_CHARS (pyflakes would read them too
    slowly for every candidate)."""
    if language != "python" or len(text) > MAX_LINTED_CHARS:
        return 0
    undefined = undefined_names(text[: hole.start] + fill + text[hole.end :])
    return len(undefined) if undefined is not None else math.inf


def closing_line(suffix: str) -> str:
    """The text after a block hole through its first line that holds code (the `}` or the next `def` that ends
    the body), or all of it when no such line ends."""
    code = len(suffix) - len(suffix.lstrip())
    end = suffix.find("\n", code)
    return suffix if end < 0 else suffix[: end + 1]


def text_before_hole_line(canvas: Canvas) -> str:
    """The hole's line up to the cursor, as the prompt holds it."""
    prefix = canvas.context.prefix
    return prefix[prefix.rfind("\n") + 1 :]


def body_end(tokenizer, line_before: str, hole: Hole) -> Callable[[list[int]], int | None]:
    """For a greedy block fill: where the model has left the block. A model continuing the text before the cursor
    does not know that the suffix closes the body; once a line of its own starts left of the body's indentation
    (`def` of a next function, the closing `}`), the body is over: keep the tokens through the newline before it.

    The body's indentation is the hole's; for a hole with none (`{|}` on the opening line), any line not right of
    the opening line ends it."""
    floor = indent_width(hole.indent) if hole.indent else indent_width(indent_of(line_before)) + 1

    def stop(tokens: list[int]) -> int | None:
        last = tokenizer.convert_ids_to_tokens(tokens[-1])
        if "\n" in last or not tokenizer.decode(tokens[-1:]).strip():
            return None  # only a token that puts code on a line can show where the line starts
        text = tokenizer.decode(tokens)
        if "\n" not in text:
            return None  # still the cursor's own line
        line = text[text.rfind("\n") + 1 :]
        if indent_width(indent_of(line)) >= floor:
            return None
        for keep in range(len(tokens) - 1, 0, -1):  # back to the newline before this line
            if "\n" in tokenizer.decode(tokens[keep - 1 : keep]):
                return keep
        return 0

    return stop


def repetition_end(tokenizer, language: str | None) -> Callable[[list[int]], int | None]:
    """For a greedy block fill: where the model has started going round in circles. Once the last one or two
    complete lines repeat the one or two before them, line for line with their indentation (`continue` after
    `continue`, an `if`/`continue` pair again and again), keep the tokens through the first round: a small model
    that repeats itself at greedy never stops on its own, and the repeats fill the budget (dev: the degenerate
    block fills). Not inside the fill's own brackets, where equal lines are data (`0,` rows of a literal)."""

    def stop(tokens: list[int]) -> int | None:
        if "\n" not in tokenizer.decode(tokens[-1:]):
            return None  # a line has just been completed, or there is nothing to look at
        text = tokenizer.decode(tokens)
        lines = text[: text.rfind("\n")].split("\n")  # complete lines; the first is the cursor's own
        code = [index for index, line in enumerate(lines) if line.strip()]
        for period in (1, 2):
            if len(code) >= 2 * period and all(
                lines[code[-i]] == lines[code[-i - period]] for i in range(1, period + 1)
            ):
                end = sum(len(line) + 1 for line in lines[: code[-period - 1] + 1])  # through the first round
                if depth_profile(text[:end], language)[-1]:
                    return None
                for keep in range(1, len(tokens) + 1):
                    if len(tokenizer.decode(tokens[:keep])) >= end:
                        return keep
        return None

    return stop


def is_inert(fill: str, language: str | None) -> bool:
    """Whether a fill holds only comments and output calls (`print(...)`; the language's `output_calls`).

    Nothing after the hole can depend on such a line, so the text after it cannot argue against it: under the
    judge, p(fill + suffix) = p(fill) p(suffix), it is as likely as the code it displaces is not, and a small model
    offers one often (`# check the balance`, `print(result)`: 11% of HumanEval single-line fills, 2 of 118
    right). A hole in the middle of code rarely asks for one."""
    spec = language_named(language) if language else None
    if spec is None:
        return False
    lines = [line.strip() for line in fill.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith(spec.comment_starts + spec.output_calls) for line in lines)
