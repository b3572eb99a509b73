"""The settings tree: camelCase keys, nested sections, per-field fallback to defaults on bad values."""

import logging

import pytest

from dgemma_lsp.settings import Settings, parse_settings


@pytest.mark.parametrize(
    "raw, path, expected",
    [
        ({"model": "/models/dg"}, ("model",), "/models/dg"),
        ({"dgemma": {"model": "tiny"}}, ("model",), "tiny"),  # a whole configuration object
        ({"allowDownload": True}, ("allow_download",), True),
        ({"context": {"prefixTokens": 200}}, ("context", "prefix_tokens"), 200),
        ({"completion": {"candidates": 3, "seed": 7}}, ("completion", "candidates"), 3),
        ({"completion": {"seed": None}}, ("completion", "seed"), None),
        ({"sampler": {"maxDenoisingSteps": 12, "tMax": 1.0}}, ("sampler", "max_denoising_steps"), 12),
        ({"sampler": {"tMin": 0.5}}, ("sampler", "t_min"), 0.5),
        ({"promptFormat": "chat"}, ("prompt_format",), "chat"),
        ({"limits": {"maxFileBytes": 1000}}, ("limits", "max_file_bytes"), 1000),
    ],
)
def test_values_are_read(raw, path, expected):
    value = parse_settings(raw)
    for part in path:
        value = getattr(value, part)
    assert value == expected


@pytest.mark.parametrize(
    "raw, path",
    [
        ({"model": 3}, ("model",)),
        ({"model": "  "}, ("model",)),
        ({"allowDownload": "yes"}, ("allow_download",)),
        ({"promptFormat": "xml"}, ("prompt_format",)),
        ({"context": {"prefixTokens": -5}}, ("context", "prefix_tokens")),
        ({"context": {"prefixTokens": True}}, ("context", "prefix_tokens")),
        ({"context": "big"}, ("context",)),
        ({"completion": {"candidates": 0}}, ("completion",)),  # rejected by the section's own check
        ({"sampler": {"tMin": 0.9, "tMax": 0.5}}, ("sampler",)),  # t_min above t_max
        ({"sampler": {"tMin": -1.0}}, ("sampler",)),
    ],
)
def test_bad_values_fall_back_to_defaults_with_a_log(raw, path, caplog):
    defaults = Settings()
    with caplog.at_level(logging.WARNING):
        value, default = parse_settings(raw), defaults
    for part in path:
        value, default = getattr(value, part), getattr(default, part)
    assert value == default
    assert caplog.records, "a bad value must be logged"


def test_settings_layer_on_a_base_and_ignore_unknown_keys(caplog):
    base = parse_settings({"model": "tiny", "completion": {"candidates": 2}})
    with caplog.at_level(logging.WARNING):
        layered = parse_settings({"completion": {"seed": 3}, "colour": "blue"}, base)
    assert layered.model == "tiny"
    assert layered.completion.candidates == 2
    assert layered.completion.seed == 3
    assert any("colour" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("raw", [None, [], "x", 5])
def test_non_objects_keep_the_base(raw):
    assert parse_settings(raw) == Settings()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({}, (".env*", "*.pem", "*.key", "id_*", "*secret*")),
        ({"exclude": ["*.secret.py", "*/private/*"]}, ("*.secret.py", "*/private/*")),
        ({"exclude": []}, ()),  # nothing excluded
        ({"exclude": "*.pem"}, (".env*", "*.pem", "*.key", "id_*", "*secret*")),  # not a list: the default
        ({"exclude": ["*.pem", 3]}, (".env*", "*.pem", "*.key", "id_*", "*secret*")),
    ],
)
def test_exclude_is_a_list_of_globs(raw, expected):
    assert parse_settings(raw).exclude == expected


def test_unset_sampler_knobs_are_the_checkpoints():
    from dgemma_lsp.settings import RELEASED_SAMPLER, SamplerSettings

    checkpoint = SamplerSettings(**{**RELEASED_SAMPLER.__dict__, "max_denoising_steps": 4, "t_max": 0.6})
    assert Settings().sampler.over(checkpoint) == checkpoint
    chosen = parse_settings({"sampler": {"maxDenoisingSteps": 12, "selfConditioning": False}}).sampler
    resolved = chosen.over(checkpoint)
    assert (resolved.max_denoising_steps, resolved.self_conditioning, resolved.t_max) == (12, False, 0.6)


def test_a_sampler_knob_that_clashes_with_the_checkpoints_falls_back_with_a_log(caplog):
    from dgemma_lsp.settings import RELEASED_SAMPLER

    chosen = parse_settings({"sampler": {"tMin": 0.9}}).sampler  # valid alone: the checkpoint decides t_max
    assert chosen.t_min == 0.9
    with caplog.at_level(logging.WARNING):
        assert chosen.over(RELEASED_SAMPLER) == RELEASED_SAMPLER  # t_max 0.8 < 0.9
    assert caplog.records
