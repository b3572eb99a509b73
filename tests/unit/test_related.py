"""Definitions from other workspace files that the code near the cursor uses."""

import pytest

from dgemma_lsp.fill.context import token_offsets
from dgemma_lsp.fill.related import Workspace, definitions, imports_of, module_path, related_snippets, used_names

PATHS = ["pkg/__init__.py", "pkg/config.py", "pkg/scan/core.py", "pkg/scan/__init__.py", "other/config.py"]


@pytest.mark.parametrize(
    ("module", "importer", "path"),
    [
        (".config", "pkg/cli.py", "pkg/config.py"),
        ("..config", "pkg/scan/core.py", "pkg/config.py"),
        (".", "pkg/scan/core.py", "pkg/scan/__init__.py"),
        ("pkg.scan.core", "pkg/cli.py", "pkg/scan/core.py"),
        ("pkg.scan", "pkg/cli.py", "pkg/scan/__init__.py"),
        ("config", "other/main.py", "other/config.py"),  # two files end so: the importer's neighbour
        ("config", "pkg/main.py", "pkg/config.py"),
        ("json", "pkg/cli.py", None),  # not in the workspace
        (".missing", "pkg/cli.py", None),
    ],
)
def test_module_paths_resolve_as_python_would_find_them_in_the_workspace(module, importer, path):
    assert module_path(module, importer, PATHS) == path


def test_imports_say_what_each_bound_name_refers_to():
    bound = imports_of(
        ["from .config import load, Config as Cfg", "import pkg.scan.core as core", "import os.path", "from x import *"]
    )
    assert bound == {
        "load": (".config", "load"),
        "Cfg": (".config", "Config"),
        "core": ("pkg.scan.core", None),
        "os": ("os", None),
    }
    assert imports_of(["from import broken"]) == {}


def test_used_names_come_nearest_the_cursor_first():
    text = "a = load(x)\nb = core.scan(a)\n"
    assert used_names(text, len(text))[:3] == ["a", "core.scan", "b"]


CONFIG = '''import os


def load(path: str, *, strict: bool = False) -> "Config":
    """Read it."""
    return Config(path)


class Config:
    def __init__(self, path):
        self.path = path

    def get(self, key, default=None):
        return default
'''


def test_definitions_are_outlined_by_name():
    found = definitions(CONFIG)
    assert found["load"] == 'def load(path: str, *, strict: bool = False) -> "Config": ...\n'
    assert (
        found["Config"]
        == "class Config:\n    def __init__(self, path): ...\n    def get(self, key, default=None): ...\n"
    )


@pytest.fixture(scope="module")
def tokenize():
    from transformers import PreTrainedTokenizerFast

    from dgemma_lsp.diffusion.loading import embedded_dir

    return token_offsets(PreTrainedTokenizerFast(tokenizer_file=str(embedded_dir() / "tokenizer.json")))


def test_snippets_show_the_definitions_the_code_uses_under_a_budget(tokenize):
    text = "from .config import load, Config\nimport pkg.scan.core as core\n\ncfg = load(p)\nvalue = cfg.get('k')\n"
    workspace = Workspace("pkg/cli.py", {"pkg/config.py": CONFIG, "pkg/scan/core.py": "def scan(x):\n    pass\n"})
    imports = ["from .config import load, Config", "import pkg.scan.core as core"]
    rendered, ids = related_snippets(text, len(text), imports, workspace, 1000, tokenize)
    assert rendered == "# pkg/config.py\n" + definitions(CONFIG)["load"] and ids == tokenize(rendered)[0]
    text += "core.scan(value)\n"
    rendered, _ = related_snippets(text, len(text), imports, workspace, 1000, tokenize)
    assert rendered.endswith("# pkg/scan/core.py\ndef scan(x): ...\n")  # the nearest use sits last
    nearest = "# pkg/scan/core.py\ndef scan(x): ...\n"
    budget = len(tokenize(nearest)[0])
    assert related_snippets(text, len(text), imports, workspace, budget, tokenize)[0] == nearest
    assert related_snippets(text, len(text), imports, workspace, 0, tokenize) == ("", [])
    assert related_snippets(text, len(text), imports, Workspace("pkg/cli.py"), 100, tokenize) == ("", [])


def test_the_server_draws_on_the_other_open_documents_of_the_language():
    from dgemma_lsp.lsp.session import Session

    session = Session()
    try:
        cli = session.documents.open("file:///w/pkg/cli.py", "from .config import load\n", 1, "python")
        session.documents.open("file:///w/pkg/config.py", CONFIG, 1, "python")
        session.documents.open("file:///w/pkg/.env.py", "SECRET = 1\n", 1, "python")  # excluded: never read
        session.documents.open("file:///w/web/app.js", "export function load() {}\n", 1, "javascript")
        workspace = session.workspace_for(cli)
        assert workspace.path == "/w/pkg/cli.py" and set(workspace.files) == {"/w/pkg/config.py"}
    finally:
        session.close()
