"""JSON request bodies, parsed so that no document the caller writes costs more than its size or reaches a
database as something it cannot store.

Refused with a 400 that says why: invalid JSON or UTF-8; nesting deeper than MAX_DEPTH (100,000 '[' would
otherwise exhaust the parser's stack); NaN, Infinity and numbers too large for a float; and strings (keys
included) holding a NUL character or an unpaired surrogate ("\\ud800"), which no text column can hold.
"""

from __future__ import annotations

import json
import re
from typing import Any

from inhouse.errors import BadRequest

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:30]} is too large")
    return value


def _check_string(s: str) -> None:
    if "\x00" in s:
        raise BadRequest("The request body holds a string with a NUL character (\\u0000), which inhouse does not "
                         "store; remove it.")
    if not s.isascii() and _SURROGATE.search(s):
        raise BadRequest("The request body holds a string with an unpaired surrogate (e.g. \\ud800), which is not "
                         "text; send valid Unicode.")


def _check(doc: Any) -> None:
    """Walks the parsed document once, without recursion: depth, and every string and key."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadRequest(f"The JSON body is nested more than {MAX_DEPTH} levels deep.")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_string(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def parse_json(raw: bytes | str) -> Any:
    """The JSON document in `raw`, checked as the module docstring says; BadRequest when it is refused."""
    try:
        doc = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(f"The JSON body is nested more than {MAX_DEPTH} levels deep.") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"The request body is not valid JSON: {str(e)[:200]}") from None
    _check(doc)
    return doc
