"""The shared pattern matcher: linear cost whatever the pattern, and git's wildmatch rules.

The end-to-end agreement with git (check-ignore, check-attr) is tested in test_gitignore.py and
test_gitattributes.py; here are the cost bound, the caps and the matcher's own interface.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from inhouse.errors import PayloadTooLarge
from inhouse.services import globs
from inhouse.services.gitignore import GitIgnore
from inhouse.services.globs import MAX_PATTERN_BYTES, MAX_PATTERNS, GlobSet, wildmatch


def steps(call: Callable[[], object]) -> int:
    """How many lines of globs.py run during `call()`: a count of work that does not depend on timing."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if frame.f_code.co_filename != globs.__file__:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def deep(depth: int) -> str:
    return "a/" * depth + "b.txt"


def test_double_stars_cost_what_one_costs() -> None:
    """The issue's pattern: `**/` repeated costs one state and the same steps as a single `**/`."""
    one = GitIgnore.parse("**/zz\n")
    many = GitIgnore.parse("**/**/**/**/**/**/**/**/zz\n")
    more = GitIgnore.parse("/".join(["**"] * 64) + "/zz\n")
    assert GlobSet(["**/zz"]).states == GlobSet(["/".join(["**"] * 64) + "/zz"]).states == 4
    path = deep(100)
    assert steps(lambda: one.ignores(path)) == steps(lambda: many.ignores(path)) == steps(lambda: more.ignores(path))
    assert not many.ignores(path)
    assert many.ignores("a/b/zz") and many.ignores("zz") and many.ignores(deep(100) + "/zz")
    assert not many.ignores("a/bzz")


def test_steps_grow_linearly_with_the_path() -> None:
    gi = GitIgnore.parse("**/**/**/**/**/**/**/**/zz\n*a*a*a*a*a*a*a*a*b\n**/a/**/a/**/a/**/c\n")
    short, long = deep(50), deep(100)
    assert steps(lambda: gi.ignores(long)) <= 2 * steps(lambda: gi.ignores(short))
    # One pass over the bytes: a handful of lines per byte, however many patterns and stars.
    assert steps(lambda: gi.ignores(long)) <= 10 * len(long) + 50


def test_steps_do_not_depend_on_how_many_patterns_match() -> None:
    path = deep(40)
    few = GitIgnore.parse("zz\n")
    many = GitIgnore.parse("".join(f"**/a/**/{'*' * (i % 3 + 1)}{i}\n" for i in range(300)))
    assert steps(lambda: many.ignores(path)) == steps(lambda: few.ignores(path))


@pytest.mark.timeout(120)
def test_pathological_patterns_answer_correctly() -> None:
    """Patterns that made the old backtracking regexes run for hours (the test times out before the fix)."""
    path = deep(200)
    assert not GitIgnore.parse("/".join(["**"] * 16) + "/zz\n").ignores(path)
    assert not GitIgnore.parse("*" + "a*" * 30 + "c\n").ignores("a" * 1000)
    assert not GitIgnore.parse("/" + "a*" * 30 + "/c\n").ignores("a" * 1000 + "/b")
    assert GitIgnore.parse("/" + "a*" * 30 + "/**\n").ignores("a" * 1000 + "/b")


def test_pattern_caps() -> None:
    GlobSet(["x"] * MAX_PATTERNS)
    with pytest.raises(PayloadTooLarge, match=f"{MAX_PATTERNS + 1} patterns"):
        GlobSet(["x"] * (MAX_PATTERNS + 1), what="The list")
    GlobSet(["y" * MAX_PATTERN_BYTES])
    with pytest.raises(PayloadTooLarge, match=f"The list has 2 patterns \\({MAX_PATTERN_BYTES + 1} bytes\\)"):
        GlobSet(["y" * MAX_PATTERN_BYTES, "z"], what="The list")


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("*.bin", "a/b/c.bin", True),  # no slash: the last name, at any depth
        ("a/*.bin", "a/c.bin", True),
        ("a/*.bin", "x/a/c.bin", False),  # a slash anchors
        ("**", "a/b", True),
        ("a/**", "a", False),
        ("a/**", "a/b/c", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("a/**/**/b", "a/b", True),
        ("a/**/**/b", "a/xb", False),
        ("**/*", "a", True),
        ("**/*/c", "c", False),
        ("x**y", "x/y", False),  # not next to slashes: one `*`
        ("/x**/y", "xy", True),  # git: the literal start is compared on its own
        ("/x**", "x/y/z", True),
        ("?", "é", False),  # one byte, not one character
        ("??", "é", True),
        ("[é]", "é", False),
        ("[[:alpha:]][[:digit:]]", "a1", True),
        ("[[:nope:]]", "n", False),  # malformed: matches nothing
        ("[a", "[a", False),
        ("a\\", "a\\", False),
        ("[z-a]", "m", False),  # a reversed range is empty, not malformed
        ("[z-a]", "z", True),  # ... though its first byte is still a member, as in git
        ("[z-ab]", "b", True),
        ("a\0b", "a", True),  # patterns are C strings for git
    ],
)
def test_wildmatch(pattern: str, path: str, matched: bool) -> None:
    assert wildmatch(pattern, path) is matched


def test_masks_and_indices() -> None:
    gs = GlobSet(["*.txt", "a/**", "[", "b"])
    assert len(gs) == 4
    mask = gs.matches("a/b")
    assert list(gs.indices(mask)) == [3, 1]
    assert mask == gs.bit(1) | gs.bit(3)
    assert [list(gs.indices(m)) for m in gs.prefix_matches("a/x.txt")] == [[], [1, 0]]
    assert GlobSet([]).matches("a") == 0
