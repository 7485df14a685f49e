"""web/params.py and web/jsonbody.py: the one parser for integers from URLs and JSON, and for JSON bodies."""

from __future__ import annotations

import json

import pytest

from inhouse.errors import BadRequest
from inhouse.web.jsonbody import MAX_DEPTH, parse_json
from inhouse.web.params import MAX_DB_INT, json_number, parse_int, unquote_strict


@pytest.mark.parametrize("raw,expected", [("0", 0), ("7", 7), ("-3", -3), (None, 5), ("", 5), ("1000", 1000)])
def test_parse_int_accepts_plain_numbers(raw: str | None, expected: int) -> None:
    assert parse_int(raw, "n", default=5, low=-10, high=1000) == expected


@pytest.mark.parametrize("raw", ["x", "1e3", "0x10", "1.0", " 1", "1 ", "+1", "--1", "²", "١", "１", "9" * 41,
                                 "1001", "-11", "99999999999999999999999"])
def test_parse_int_refuses_everything_else_with_the_range(raw: str) -> None:
    with pytest.raises(BadRequest) as e:
        parse_int(raw, "cursor", low=-10, high=1000)
    assert "'cursor'" in e.value.message and "-10 to 1000" in e.value.message


def test_parse_int_clamps_only_when_asked_and_needs_a_default_or_a_value() -> None:
    assert parse_int("99999999999999999999999", "limit", low=1, high=1000, clamp=True) == 1000
    with pytest.raises(BadRequest):
        parse_int("0", "limit", low=1, high=1000, clamp=True)
    with pytest.raises(BadRequest, match="required"):
        parse_int(None, "id")
    assert parse_int(str(MAX_DB_INT), "id") == MAX_DB_INT
    with pytest.raises(BadRequest):
        parse_int(str(MAX_DB_INT + 1), "id")


@pytest.mark.parametrize("value", [True, False, None, "7", [], {}, float("nan"), float("inf"), -1.0, 3651, 10**400])
def test_json_number_refuses_non_numbers_and_out_of_range(value: object) -> None:
    with pytest.raises(BadRequest, match="expiresInDays"):
        json_number(value, "expiresInDays", low=0, high=3650)


def test_json_number_accepts_ints_and_floats_in_range() -> None:
    assert json_number(2, "d", low=0, high=3650) == 2.0
    assert json_number(0.5, "d", low=0, high=3650) == 0.5


@pytest.mark.parametrize("raw,expected", [("abc", "abc"), ("a%2Fb", "a/b"), ("%C3%A9t%C3%A9", "été"),
                                          ("%F0%9F%A4%97", "🤗"), ("a%20b", "a b")])
def test_unquote_strict_decodes_utf8(raw: str, expected: str) -> None:
    assert unquote_strict(raw) == expected


@pytest.mark.parametrize("raw", ["%00", "a%00b", "%ED%A0%80", "%FF", "%C3", "%0A", "%7F", "a\x00b", "%C0%AF"])
def test_unquote_strict_refuses_controls_and_invalid_utf8(raw: str) -> None:
    with pytest.raises(BadRequest):
        unquote_strict(raw)


def test_parse_json_limits_depth_without_recursing() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    for raw in (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), b"[" * 100_000, b'{"a":' * 100_000,
                json.dumps({"a": [{"b": [[[]]]}]}).encode().replace(b"[]", b"[" * 80 + b"]" * 80)):
        with pytest.raises(BadRequest, match="nested"):
            parse_json(raw)


@pytest.mark.parametrize("raw", [b"NaN", b'{"a": Infinity}', b"[-Infinity]", b"1e400", b'{"a": -1e999}',
                                 b'"\\u0000"', b'{"\\u0000": 1}', b'["\\ud800"]', b'"\\udfff x"', b'"\xed\xa0\x80"',
                                 b"\xff", b"{", b"1" * 5000])
def test_parse_json_refuses_what_no_store_can_hold(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_json(raw)


def test_parse_json_keeps_ordinary_documents() -> None:
    doc = {"name": "été 🤗", "n": 10**30, "f": 1.5e300, "list": [1, None, True], "wide": list(range(10_000))}
    assert parse_json(json.dumps(doc).encode()) == doc  # 🤗 travels as the escaped pair \ud83e\udd17
    assert parse_json(json.dumps(doc, ensure_ascii=False).encode()) == doc
