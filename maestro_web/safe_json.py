"""JSON and text from strangers, read without surprises (SPEC §7). No Flask in here.

`loads_strict` is the one JSON reader for request bodies, the worker's form `info` and the spec
import. On top of `json.loads` it refuses what a database or a later `json.dumps` would choke on:
nesting deeper than a fixed bound (instead of a RecursionError), `NaN` / `Infinity` (no valid JSON
could carry them back out), NUL characters (PostgreSQL text cannot hold them) and lone UTF-16
surrogates such as `"\\ud800"` (they cannot be encoded as UTF-8). Each refusal names where it was
found, so callers can answer 400/422 with the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # objects and arrays inside each other; real bodies need 4 or 5

_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class UnsafeJSON(ValueError):
    """The document is not JSON this app accepts; `where` is a path such as `info.a[3]` ("" = the body)."""

    def __init__(self, problem: str, where: str = "", line: int | None = None) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.problem = problem
        self.where = where
        self.line = line  # for a syntax error: the line of the document where it is

    @property
    def field(self) -> str | None:
        """The top-level member at fault, or None when the body itself is."""
        if not self.where:
            return None
        return re.split(r"[.\[]", self.where, maxsplit=1)[0] or None


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (NUL, lone surrogate), or None when it can: the first one found."""
    # Not a regex search: that walked a 100 KB picture at 0.85 ms, and an ingest checks it twice
    # (here and in its model). These scans run in C: find, isascii, and for other text the UTF-8
    # encoder, which fails exactly at the first surrogate.
    nul = value.find("\x00")
    surrogate = -1
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            surrogate = exc.start
    if nul < 0 and surrogate < 0:
        return None
    if surrogate < 0 or 0 <= nul < surrogate:
        return "must not contain NUL characters"
    return "must not contain lone UTF-16 surrogates (invalid Unicode)"


def loads_strict(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing deep nesting, non-finite numbers, NUL and lone surrogates."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJSON("the body is not valid UTF-8") from None
    try:
        # NaN and Infinity are parsed, then refused by check_document, which can say where they are.
        document = json.loads(text)
    except RecursionError:
        raise UnsafeJSON(f"nested deeper than {max_depth} levels", _deep_member(text, max_depth)) from None
    except json.JSONDecodeError as exc:
        raise UnsafeJSON(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", line=exc.lineno
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise UnsafeJSON(f"not valid JSON: {exc}") from None
    check_document(document, max_depth)
    return document


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_member(text: str, max_depth: int) -> str:
    """The top-level member under which `text` nests deeper than `max_depth` ("" if none)."""
    depth = 0
    member = ""
    top_is_object = text.lstrip().startswith("{")
    for token in _TOKEN.finditer(text):
        value = token.group()
        if value in "[{":
            depth += 1
            if depth > max_depth:
                return member
        elif value in "]}":
            depth -= 1
        elif depth == 1 and top_is_object:
            member = _printable(value[1:-1])  # the last string at the top level: the member's name
    return ""


def check_document(document: Any, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed document without recursion; raise UnsafeJSON at the first bad value."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise UnsafeJSON(f"nested deeper than {max_depth} levels", where)
            if isinstance(value, dict):
                for key, item in value.items():
                    path = f"{where}.{key}" if where else str(key)
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        raise UnsafeJSON(f"a member name {problem}", _printable(where) or "")
                    stack.append((item, _printable(path), depth + 1))
            else:
                stack.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise UnsafeJSON(problem, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise UnsafeJSON("numbers must be finite (no NaN or Infinity)", where)


def _printable(path: str) -> str:
    return _BAD_CHARACTER.sub("?", path)
