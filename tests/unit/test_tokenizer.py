"""The byte-level BPE that `model/train_tokenizer.py` trains (the retired from-scratch model's tokenizer, kept as
`model/bytelevel-tokenizer.json`, the healing tests' tokenizer): special ids 0..9, exact round trip of any text,
and how literal special-token text in code is handled (see model/DATA.md, "Tokenizer"). The embedded model's
tokenizer is Gemma 3's, pruned: `tests/unit/test_vocabulary.py`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS, special_ids, wrap_tokenizer

TOKENIZER_JSON = Path(__file__).resolve().parents[2] / "model" / "bytelevel-tokenizer.json"


@pytest.fixture(scope="module")
def raw() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(TOKENIZER_JSON))
    tokenizer.encode_special_tokens = True  # code is text: "<eos>" written in a file is not EOS
    return tokenizer


@pytest.fixture(scope="module")
def wrapped():
    return wrap_tokenizer(Tokenizer.from_file(str(TOKENIZER_JSON)))


CASES = {
    "empty": "",
    "python": "def f(x):\n    return x + 1\n",
    "tabs": "func main() {\n\tif x {\n\t\treturn\n\t}\n}\n",
    "crlf and cr": "a = 1\r\nb = 2\rc = 3\n\r\n",
    "trailing spaces": "x = 1   \n  \ny = 2 \t \n",
    "form feed": "import os\n\x0c\ndef g():\n    pass\n",
    "zero width joiner": "family = '👨\u200d👩\u200d👧'\nzwnj = 'a\u200cb'\n",
    "emoji and astral": "s = '🎉🚀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎𠜱 \U0010fffd'\n",
    "cjk": "# 日本語のコメント\nname = '中文字符串'  # 한국어\n",
    "right to left": "msg = 'שלום עולם'  # مرحبا بالعالم\n",
    "combining accents": "cafe\u0301 = 'e\u0301\u0300\u0327' + 'n\u0303'\n",
    "control characters": "bell = '\x07'\nesc = '\x1b[31m'\nvt = '\x0b'\ndel_ = '\x7f'\n",
    "long run of spaces": "x =" + " " * 300 + "1\n" + " " * 1000,
    "only whitespace": " \t\n\r\n \x0c ",
    "numbers": "n = 1234567890.0e-12 + 0xDEADbeef + 1_000_000\n",
    "rust": "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![0; 4];\n    Ok(())\n}\n",
    "typescript": "const f = <T,>(x: T): T => x;\nexport type A = { [k: string]: number };\n",
    "special token text": "s = '<eos>'  # <pad><bos><fim_prefix><fim_suffix><fim_middle><file_sep><image><boi><eoi>\n",
    "lone high codepoints": "\ufeffbom\ufffe\uffff\U000e0001",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_raw_round_trip(raw, text):
    ids = raw.encode(text, add_special_tokens=False).ids
    assert raw.decode(ids, skip_special_tokens=False) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_wrapped_round_trip(wrapped, text):
    ids = wrapped(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert wrapped.decode(ids, clean_up_tokenization_spaces=False) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)


def random_text(rng: random.Random) -> str:
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
        " \t\n\r\x0b\x0c",
        "()[]{}<>:;,.=+-*/%&|^~!?@#$'\"`\\",
    ]
    ranges = [(0x1, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    chars = []
    for _ in range(rng.randrange(0, 60)):
        if rng.random() < 0.6:
            chars.append(rng.choice(rng.choice(pools)))
        else:
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


def test_random_unicode_round_trip(raw, wrapped):
    rng = random.Random(20240601)
    for _ in range(400):
        text = random_text(rng)
        ids = raw.encode(text, add_special_tokens=False).ids
        assert raw.decode(ids, skip_special_tokens=False) == text, repr(text)
        wids = wrapped(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        assert wids == ids
        assert wrapped.decode(wids, clean_up_tokenization_spaces=False) == text, repr(text)


def test_special_tokens_have_ids_0_to_9(raw, wrapped):
    assert [raw.token_to_id(token) for token in SPECIAL_TOKENS] == list(range(10))
    assert special_ids(wrapped) == {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    assert wrapped.pad_token_id == 0 and wrapped.eos_token_id == 1 and wrapped.bos_token_id == 2


def test_vocab_size_and_pipeline():
    spec = json.loads(TOKENIZER_JSON.read_text(encoding="utf-8"))
    assert spec["model"]["type"] == "BPE"
    assert spec["normalizer"] is None  # exact round trip
    assert spec["post_processor"] is None  # nothing adds bos/eos
    assert spec["decoder"]["type"] == "ByteLevel"
    raw = Tokenizer.from_file(str(TOKENIZER_JSON))
    assert 8192 <= raw.get_vocab_size() <= 16384
    assert [t["content"] for t in spec["added_tokens"]] == list(SPECIAL_TOKENS)


def test_literal_special_token_text_stays_text(wrapped):
    """ "<eos>" written in code is ordinary bytes by default (wrap_tokenizer splits special-token text), so user
    code can never end a prompt or a fill early; only an explicit opt-out reads it as the special token."""
    text = "if tok == '<eos>':\n    stop()  # <fim_middle>\n"
    ids = wrapped(text, add_special_tokens=False)["input_ids"]
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))
    assert wrapped.decode(ids, skip_special_tokens=True) == text
    unsafe = wrapped(text, add_special_tokens=False, split_special_tokens=False)["input_ids"]
    assert wrapped.eos_token_id in unsafe


def test_no_bos_or_eos_added(wrapped):
    ids = wrapped("x = 1\n")["input_ids"]
    assert ids[0] != wrapped.bos_token_id and ids[-1] != wrapped.eos_token_id


def test_code_pieces(raw):
    """The code-aware split: indentation runs, numbers of at most 3 digits, and real compression of code."""
    pieces = [p for p, _ in raw.pre_tokenizer.pre_tokenize_str("        return x_1 + 123456\n")]
    assert pieces[0] == "ĠĠĠĠĠĠĠ"  # seven spaces of indentation; the eighth leads the keyword
    assert "Ġreturn" in pieces and "123" in pieces and "456" in pieces
    code = (Path(__file__).resolve().parents[2] / "dgemma_lsp/diffusion/tokens.py").read_text(encoding="utf-8")
    assert len(code.encode()) / len(raw.encode(code, add_special_tokens=False).ids) > 3.0
