"""URL parameters: percent-decoding that refuses what no name can hold, and bounded integers.

Every integer a caller puts in a route, a query string or a JSON body goes through `parse_int` / `json_number`,
with the bounds of what it counts: a value outside them is a 400 that says the range, never an overflow in the
database or a loop as long as the number asks.
"""

from __future__ import annotations

import math
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from inhouse.errors import BadRequest

MAX_ID = 2**31 - 1  # the largest row id or number an INTEGER column holds (PostgreSQL refuses a larger one)
MAX_DB_INT = 2**63 - 1  # the largest value of a BIGINT column (the audit log's sequence numbers)
MAX_OFFSET = 10**12  # further than any listing reaches: a larger cursor or page is refused, not looked for
_MAX_DIGITS = 40  # longer numbers are refused before Python converts them


def _control(text: str) -> str | None:
    return next((c for c in text if c < " " or c == "\x7f"), None)


def unquote_strict(raw: str, what: str = "URL") -> str:
    """Percent-decodes one URL part as UTF-8. Invalid UTF-8 (a lone surrogate such as %ED%A0%80 included) and
    control characters (%00 …) are refused: no repo, revision or file can be named with them."""
    if "%" not in raw and raw.isascii() and _control(raw) is None:
        return raw
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The {what} is not valid percent-encoded UTF-8: encode names as UTF-8 before "
                         "percent-encoding them.") from None
    bad = _control(text)
    if bad is not None:
        raise BadRequest(f"The {what} contains the control character U+{ord(bad):04X}, which no name can hold.")
    return text


def check_query(request: Request) -> None:
    """Refuses a query string whose values hold control characters (a NUL reaches no database as text)."""
    query = request.scope.get("query_string", b"")
    if not query:
        return
    for key, value in request.query_params.multi_items():
        bad = _control(key) or _control(value)
        if bad is not None:
            raise BadRequest(f"The query parameter '{_control_free(key)}' contains the control character "
                             f"U+{ord(bad):04X}.")


def _control_free(text: str) -> str:
    return "".join("?" if c < " " or c == "\x7f" else c for c in text[:100])


def parse_int(raw: str | None, name: str, *, default: int | None = None, low: int = 0, high: int = MAX_DB_INT,
              clamp: bool = False) -> int:
    """An integer given as text (a route or query parameter), within [low, high].

    Missing or empty: `default` (a 400 when there is none). Only ASCII digits with an optional '-' are numbers.
    Above `high`: a 400, or `high` when `clamp` (a page size asked too large gets the largest page).
    """
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"'{name}' is required: a whole number from {low} to {high}.")
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}, not '{_control_free(raw)[:50]}'.")
    value = int(raw)
    if value > high and clamp:
        return high
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}; {raw[:50]} is out of range.")
    return value


def query_int(request: Request, name: str, *, default: int | None = None, low: int = 0, high: int = MAX_DB_INT,
              clamp: bool = False) -> int:
    """`parse_int` on query parameter `name`."""
    return parse_int(request.query_params.get(name), name, default=default, low=low, high=high, clamp=clamp)


def json_number(value: object, name: str, *, low: float, high: float) -> float:
    """A JSON number within [low, high]: not a boolean, not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"'{name}' must be a number from {low:g} to {high:g}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"'{name}' must be a finite number from {low:g} to {high:g}.")
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number from {low:g} to {high:g}; {str(value)[:30]} is out of range.")
    return float(value)
