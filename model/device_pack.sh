#!/usr/bin/env bash
# Pack what a training run on a lent GPU needs into .device/ (git-ignored; it travels with `carry`):
# the corpus, xz-compressed (~31 MB, built first with `python model/corpus.py`), and wheels for the packages the
# GPU machine lacks (it has torch 2.11, tokenizers and safetensors, but an older transformers without
# DiffusionGemma, and no tree-sitter). Needs network here; nothing is fetched there.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=model/work/corpus
[ -s "$corpus/train.jsonl" ] || { echo "no $corpus/train.jsonl: run python model/corpus.py first" >&2; exit 2; }
mkdir -p .git/info && { grep -qx "/.device/" .git/info/exclude 2>/dev/null || echo "/.device/" >> .git/info/exclude; }
rm -rf .device && mkdir -p .device/wheels
xz -T0 -6 -c "$corpus/train.jsonl" > .device/train.jsonl.xz
xz -T0 -6 -c "$corpus/valid.jsonl" > .device/valid.jsonl.xz
# The GPU machine runs Python 3.12; compiled wheels must match it, not this machine's Python.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/wheels \
    transformers==5.23.0 huggingface_hub==2.4.0 \
    tree-sitter==0.26.1 tree-sitter-python==0.25.0 tree-sitter-javascript==0.25.0 \
    tree-sitter-typescript==0.23.2 tree-sitter-go==0.25.0 tree-sitter-rust==0.24.2
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
packed=$(du -cb .device | tail -1 | cut -f1)
echo "packed $((packed / 1048576)) MiB; with the tracked tree $(((packed + tracked) / 1048576)) MiB of the 64 MiB that travel"
