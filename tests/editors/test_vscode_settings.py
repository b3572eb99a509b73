"""The VS Code extension declares the server's settings once, in editors/vscode/package.json, and sends them all
(defaults included) as initializationOptions. They must be the server's keys with the server's defaults and choices,
or an editor that never touched a setting would silently change the server's behaviour."""

import dataclasses
import json
import logging
import typing
from pathlib import Path

import pytest

from dgemma_lsp.settings import Settings, camel, parse_settings

PACKAGE = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "package.json"
CLIENT_GROUPS = {"server", "inlineCompletions"}  # editor-side settings; the extension does not send them


def declared_server_settings() -> dict[str, dict]:
    properties = json.loads(PACKAGE.read_text())["contributes"]["configuration"]["properties"]
    settings = {key.removeprefix("dgemma."): schema for key, schema in properties.items()}
    return {key: schema for key, schema in settings.items() if key.split(".")[0] not in CLIENT_GROUPS}


def server_fields(defaults=None, prefix="") -> dict[str, tuple[object, object]]:
    """Every leaf of the settings tree as dotted camelCase key -> (type hint, default). Defaults are read from a
    `Settings()` instance, not the nested classes: the tree builds its sampler with its own defaults."""
    defaults = Settings() if defaults is None else defaults
    hints = typing.get_type_hints(type(defaults))
    leaves = {}
    for field in dataclasses.fields(defaults):
        key = prefix + camel(field.name)
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            leaves.update(server_fields(value, key + "."))
        else:
            leaves[key] = (hints[field.name], value)
    return leaves


def test_every_server_setting_is_declared_once_with_its_default():
    declared, fields = declared_server_settings(), server_fields()
    assert sorted(declared) == sorted(fields)
    for key, schema in declared.items():
        default = fields[key][1]
        assert schema["default"] == (list(default) if isinstance(default, tuple) else default), key  # JSON lists


@pytest.mark.parametrize("key", [key for key, schema in declared_server_settings().items() if "enum" in schema])
def test_declared_choices_are_the_servers(key):
    hint, _ = server_fields()[key]
    assert typing.get_origin(hint) is typing.Literal
    assert declared_server_settings()[key]["enum"] == list(typing.get_args(hint))


def test_the_defaults_the_extension_sends_parse_to_the_servers_defaults(caplog):
    # What `workspace.getConfiguration("dgemma").get(group)` yields for an untouched configuration.
    tree: dict = {}
    for key, schema in declared_server_settings().items():
        *groups, leaf = key.split(".")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = schema["default"]
    with caplog.at_level(logging.WARNING, logger="dgemma_lsp.settings"):
        assert parse_settings(tree) == Settings()
    assert not caplog.records, "the server rejected a default the extension sends"
