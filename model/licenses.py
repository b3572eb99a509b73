"""License policy for the corpus: which licenses are kept, and reading them from PyPI metadata, npm
package.json and Debian copyright files (see model/DATA.md)."""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict

# Permissive licenses we keep. "BSD" is a BSD license whose clause count the metadata does not say.
ALLOWED = frozenset(
    {
        "MIT",
        "MIT-0",
        "BSD",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "Apache-2.0",
        "PSF-2.0",
        "ISC",
        "0BSD",
        "Unlicense",
        "Unicode-DFS-2016",
        "Unicode-3.0",
        "BlueOak-1.0.0",
    }
)
_CANON = {
    "mit": "MIT", "expat": "MIT", "mitexpat": "MIT", "mit0": "MIT-0",
    "bsd": "BSD", "bsdstyle": "BSD", "bsd3clause": "BSD-3-Clause", "bsd3": "BSD-3-Clause", "newbsd": "BSD-3-Clause",
    "modifiedbsd": "BSD-3-Clause", "revisedbsd": "BSD-3-Clause", "3clausebsd": "BSD-3-Clause",
    "bsd2clause": "BSD-2-Clause", "bsd2": "BSD-2-Clause", "simplifiedbsd": "BSD-2-Clause",
    "freebsd": "BSD-2-Clause", "2clausebsd": "BSD-2-Clause",
    "apache": "Apache-2.0", "apache2": "Apache-2.0", "apache20": "Apache-2.0", "asl20": "Apache-2.0",
    "psf": "PSF-2.0", "psf2": "PSF-2.0", "psf20": "PSF-2.0", "python20": "PSF-2.0", "pythonfoundation": "PSF-2.0",
    "isc": "ISC", "iscl": "ISC", "isciscl": "ISC", "0bsd": "0BSD", "bsdzeroclause": "0BSD", "unlicense": "Unlicense",
    "unicodedfs2016": "Unicode-DFS-2016", "unicode30": "Unicode-3.0", "blueoak100": "BlueOak-1.0.0",
    "go": "BSD-3-Clause",  # DEP-5's name for the Go project's BSD-3-Clause text
}  # fmt: skip


def canon_license(name: str) -> str | None:
    """A license name as metadata writes it ("MIT License", "Apache Software License", "BSD-3-clause") -> SPDX id
    if it is one we keep, else None."""
    key = re.sub(r"[^a-z0-9]", "", name.split("~")[0].lower())  # DEP-5 "BSD-3-clause~Google" is BSD-3-clause
    if key in _CANON:
        return _CANON[key]
    key = key.removeprefix("the")
    if key in _CANON:
        return _CANON[key]
    for noise in ("osiapproved", "licence", "license", "software", "version"):
        key = key.replace(noise, "")
    return _CANON.get(key)


def spdx(expression: str) -> tuple[str | None, str]:
    """Evaluate an SPDX (or DEP-5: lower-case and/or) expression: (the permissive part we rely on, or None; why).
    OR keeps the allowed alternatives; AND needs every part allowed; `X WITH exception` counts as X."""
    pieces = re.split(r"\s*(\(|\)|\b(?:or|and|with)\b)\s*", expression.strip(), flags=re.I)
    tokens = [t for t in pieces if t and t.strip()]
    pos = 0

    def parse_or():
        nonlocal pos
        parts = [parse_and()]
        while pos < len(tokens) and tokens[pos].lower() == "or":
            pos += 1
            parts.append(parse_and())
        good = [p for p in parts if p is not None]
        return " OR ".join(dict.fromkeys(good)) if good else None

    def parse_and():
        nonlocal pos
        parts = [parse_atom()]
        while pos < len(tokens) and tokens[pos].lower() == "and":
            pos += 1
            parts.append(parse_atom())
        if any(p is None for p in parts):
            return None
        return " AND ".join(dict.fromkeys(parts))

    def parse_atom():
        nonlocal pos
        if pos >= len(tokens):
            return None
        token = tokens[pos]
        pos += 1
        if token == "(":
            inner = parse_or()
            pos += 1  # ")"
            return f"({inner})" if inner and (" OR " in inner or " AND " in inner) else inner
        if pos < len(tokens) and tokens[pos].lower() == "with":
            pos += 2  # an exception only adds permissions
        return canon_license(token)

    try:
        result = parse_or()
    except IndexError:
        result = None
    return result, "" if result else f"not permissive or unknown: {expression.strip()[:80]!r}"


def license_from_text(text: str) -> str | None:
    """Recognize a license text (a LICENSE file, or a whole text pasted in the License field)."""
    t = " ".join(text.split())
    if re.search(r"GNU (LESSER |AFFERO )?GENERAL PUBLIC|Mozilla Public License|Eclipse Public", t, re.I):
        return None
    if "Permission is hereby granted, free of charge" in t:
        return "MIT"
    if "Redistribution and use in source and binary forms" in t:
        return "BSD-3-Clause" if re.search(r"Neither the name|endorse or promote", t) else "BSD-2-Clause"
    if re.search(r"Apache License,? Version 2\.0", t, re.I):
        return "Apache-2.0"
    if "Permission to use, copy, modify, and/or distribute this software for any purpose" in t:
        return "ISC" if "above copyright notice" in t else "0BSD"
    if "This is free and unencumbered software released into the public domain" in t:
        return "Unlicense"
    if "PYTHON SOFTWARE FOUNDATION LICENSE" in t.upper():
        return "PSF-2.0"
    return None


def python_license(metadata: str, license_texts: list[str]) -> tuple[str | None, str]:
    """PEP 639 License-Expression if present; else the `License ::` classifiers (every one must be permissive:
    they cannot say OR from AND, so several are recorded joined by AND); else the License field (an SPDX-like
    name or a pasted text); else the shipped LICENSE file."""
    fields = re.findall(r"^([A-Za-z-]+): ?(.*(?:\n {7,}.*|\n\t.*)*)", metadata.split("\n\n", 1)[0], re.M)
    get = defaultdict(list)
    for key, value in fields:
        get[key.lower()].append(value.strip())
    if get["license-expression"]:
        return spdx(get["license-expression"][0])
    classifiers = [c.split("::")[-1].strip() for c in get["classifier"] if c.startswith("License ::")]
    classifiers = [c for c in classifiers if c not in ("OSI Approved", "DFSG approved")]
    field = next((v for v in get["license"] if v and v.upper() not in ("UNKNOWN", "NONE")), "")
    if classifiers:
        canon = [canon_license(c) for c in classifiers]
        if None in canon:
            return None, f"classifier {classifiers[canon.index(None)]!r}"
        short = field if "\n" not in field and len(field) < 100 else ""
        if short and re.search(r"gpl|mpl|mozilla|eclipse|epl|cddl|creative|proprietary|commercial", short, re.I):
            return None, f"License field {short!r} contradicts classifiers"
        return " AND ".join(sorted(set(canon))), ""
    if field:
        if "\n" not in field and len(field) < 100:
            result = spdx(field)
            if result[0]:
                return result
        found = license_from_text(field)
        if found:
            return found, ""
    for text in license_texts:
        found = license_from_text(text)
        if found:
            return found, ""
    return None, f"no permissive license found (License: {field[:60]!r})"


def npm_license(package_json: dict) -> tuple[str | None, str]:
    value = package_json.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if not value and isinstance(package_json.get("licenses"), list):  # legacy: a list means alternatives
        value = " OR ".join(str(x.get("type") if isinstance(x, dict) else x) for x in package_json["licenses"])
    if not isinstance(value, str) or not value:
        return None, "no license in package.json"
    return spdx(value)


def debian_license(copyright_text: str, cargo_toml: bytes | None) -> tuple[str | None, str, list[str]]:
    """Rust: the crate's own Cargo.toml `license` (SPDX). Go: the DEP-5 copyright file. Returns (license, why,
    excluded globs): a stanza with a non-permissive license over `*` rejects the package; over named files
    (test data, a font, one vendored file) it excludes just those files."""
    if cargo_toml is not None:
        import tomllib

        declared = tomllib.loads(cargo_toml.decode("utf-8", "replace")).get("package", {}).get("license")
        if declared:
            return (*spdx(declared.replace("/", " OR ")), [])  # old crates wrote "MIT/Apache-2.0"
    if not copyright_text.startswith("Format:"):
        return None, "copyright file is not machine-readable (DEP-5)", []
    found, excluded = [], []
    for stanza in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        license_ = re.search(r"^License: *(.*)$", stanza, re.M)
        if not files or not license_:
            continue
        patterns = files.group(1).split()
        if patterns and all(p.startswith("debian/") for p in patterns):
            continue
        result, why = spdx(license_.group(1))
        if result is None:
            if "*" in patterns:
                return None, f"Files: *: {why}", []
            excluded += patterns
        else:
            found.append(result)
    if not found:
        return None, "no Files stanza with a permissive license", []
    parts = [part for f in found for part in (f.split(" AND ") if "(" not in f else [f])]
    return " AND ".join(dict.fromkeys(parts)), "", excluded


def license_excluded(path: str, globs: list[str]) -> bool:
    """DEP-5 globs are relative to the upstream tree; our Go paths start with the import path."""
    return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(path, "*/" + g) for g in globs)
