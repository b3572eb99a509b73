"""A non-editable install carries everything the server needs at run time: queries and the embedded model."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    (path,) = out.glob("dgemma_lsp-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_carries_the_queries(wheel):
    names = set(wheel.namelist())
    for language in ("python", "javascript", "typescript", "tsx", "go", "rust"):
        assert f"dgemma_lsp/text/queries/{language}.scm" in names


def test_wheel_carries_the_embedded_files_unchanged(wheel):
    embedded = ROOT / "dgemma_lsp" / "diffusion" / "embedded"
    files = sorted(p for p in embedded.iterdir() if p.is_file())
    assert any(p.name == "tokenizer.json" for p in files)
    for path in files:
        assert wheel.read(f"dgemma_lsp/diffusion/embedded/{path.name}") == path.read_bytes(), path.name


def test_wheel_has_the_console_script(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert "dgemma-lsp = dgemma_lsp.cli:main" in wheel.read(entry_points).decode()
