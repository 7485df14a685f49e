""".gitignore matching, for the preupload endpoint's `shouldIgnore` answer.

`GitIgnore.parse(text).ignores(path)` follows git's rules (gitignore(5)):

* blank lines and lines starting with `#` are skipped; `\\#` and `\\!` are literal;
* trailing spaces are dropped unless escaped with a backslash;
* `!pattern` re-includes what an earlier pattern excluded; the last matching line wins;
* `pattern/` matches directories only (and so everything under them);
* a pattern with a slash at the start or in the middle is anchored to the repository
  root; one without a slash matches a name at any depth;
* `*` and `?` never match `/`; `[a-z]`, `[!abc]`, `[^abc]` and `[[:alpha:]]` classes;
* `**/x` matches `x` at any depth, `x/**` everything inside `x`, `a/**/b` zero or more
  directories between `a` and `b`;
* a file inside an ignored directory is ignored, and a later `!` line cannot bring it
  back (git does not look inside excluded directories).

Only the one root `.gitignore` is modelled; paths are repository-relative with `/`.
Matching is case-sensitive (git's default on Linux). One deliberate difference from
git's code: `a**` after a literal prefix is an ordinary `*` as the documentation says,
whereas git's prefix optimisation lets it cross `/` in anchored patterns.
The pattern compiler (`compile_wildmatch`) is shared with `gitattributes.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GitIgnore", "IgnoreRule", "compile_wildmatch", "normalize_repo_path"]

# A regex that never matches: used for patterns git would reject as malformed.
_NEVER = re.compile(r"(?!)")

_POSIX_CLASSES: dict[str, str] = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "\\x21-\\x7e",
    "lower": "a-z",
    "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9a-fA-F",
}

# Token kinds produced by _tokenize.
_LIT, _STAR, _DSTAR, _QMARK, _CLASS, _SLASH = range(6)


class _Malformed(Exception):
    pass


def _parse_class(pattern: str, i: int) -> tuple[str, int]:
    """Parse a bracket expression starting at pattern[i] == '['.

    Returns (regex, index after the closing ']'). Raises _Malformed if it never closes
    or names an unknown `[:class:]`.
    """
    j = i + 1
    negate = False
    if j < len(pattern) and pattern[j] in "!^":
        negate = True
        j += 1
    parts: list[str] = []
    first = True
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and not first:
            body = "".join(parts)
            if negate:
                # A negated class still never matches the path separator.
                return f"[^/{body}]", j + 1
            return f"(?!/)[{body}]", j + 1
        first = False
        if c == "[" and pattern.startswith("[:", j):
            close = pattern.find("]", j + 2)
            if close == -1:
                raise _Malformed
            if pattern[close - 1] == ":" and close - 1 > j + 1:
                name = pattern[j + 2 : close - 1]
                if name not in _POSIX_CLASSES:
                    raise _Malformed
                parts.append(_POSIX_CLASSES[name])
                j = close + 1
                continue
            # No ":]" before the first "]": the "[" is an ordinary member (as in git).
        if c == "\\":
            j += 1
            if j >= len(pattern):
                raise _Malformed
            c = pattern[j]
        # Range a-z (the '-' is literal at the end of the class).
        if j + 2 < len(pattern) and pattern[j + 1] == "-" and pattern[j + 2] != "]":
            lo = c
            k = j + 2
            hi = pattern[k]
            if hi == "\\":
                k += 1
                if k >= len(pattern):
                    raise _Malformed
                hi = pattern[k]
            if ord(hi) < ord(lo):
                raise _Malformed
            parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
            j = k + 1
            continue
        parts.append(re.escape(c))
        j += 1
    raise _Malformed


def _tokenize(pattern: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise _Malformed  # git: a trailing backslash makes the pattern invalid
            tokens.append((_LIT, pattern[i + 1]))
            i += 2
        elif c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            at_start = i == 0 or pattern[i - 1] == "/"
            at_end = j == n or pattern[j] == "/"
            if j - i >= 2 and at_start and at_end:
                tokens.append((_DSTAR, "**"))
            else:
                tokens.append((_STAR, "*"))
            i = j
        elif c == "?":
            tokens.append((_QMARK, "?"))
            i += 1
        elif c == "[":
            regex, i = _parse_class(pattern, i)  # an unterminated '[' makes the pattern invalid, as in git
            tokens.append((_CLASS, regex))
        elif c == "/":
            tokens.append((_SLASH, "/"))
            i += 1
        else:
            tokens.append((_LIT, c))
            i += 1
    return tokens


def compile_wildmatch(pattern: str) -> re.Pattern[str]:
    """Compile one git pattern (no leading `!`, no trailing `/`) to a regex over full paths.

    A pattern containing a `/` is anchored at the repository root (a leading `/` is
    dropped); otherwise it matches the last component of a path at any depth.
    Malformed patterns (a trailing backslash, an unterminated `[`, an unknown
    `[[:class:]]`, a reversed range) compile to a regex that matches nothing, as in git.
    """
    try:
        tokens = _tokenize(pattern)
    except _Malformed:
        return _NEVER
    anchored = any(kind == _SLASH for kind, _ in tokens)
    if tokens and tokens[0][0] == _SLASH:
        tokens = tokens[1:]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
        if kind == _DSTAR:
            if nxt == _SLASH:
                out.append("(?:.*/)?")  # leading '**/' or middle '/**/': zero or more dirs
                i += 2
                continue
            out.append(".*")  # trailing '/**' (or a lone '**'): everything below
        elif kind == _STAR:
            out.append("[^/]*")
        elif kind == _QMARK:
            out.append("[^/]")
        elif kind == _CLASS:
            out.append(value)
        elif kind == _SLASH:
            out.append("/")
        else:
            out.append(re.escape(value))
        i += 1
    body = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    try:
        return re.compile(f"\\A{prefix}{body}\\Z", re.DOTALL)
    except re.error:
        return _NEVER


def normalize_repo_path(path: str) -> str:
    """Turn `./a//b/` or `/a/b` into `a/b` (repository-relative, `/`-separated)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _strip_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless the last one is escaped with a backslash."""
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        # Count the backslashes just before this space.
        k = end - 1
        slashes = 0
        while k > 0 and line[k - 1] == "\\":
            slashes += 1
            k -= 1
        if slashes % 2 == 1:
            break  # escaped space: keep it (and everything before it)
        end -= 1
    return line[:end]


@dataclass(frozen=True)
class IgnoreRule:
    """One parsed .gitignore line."""

    pattern: str  # the line as written (after trimming), for error messages and debugging
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return self.regex.match(path) is not None


class GitIgnore:
    """A parsed root `.gitignore`. Build it with `GitIgnore.parse(text)`."""

    def __init__(self, rules: list[IgnoreRule]):
        self.rules = rules

    @classmethod
    def parse(cls, text: str) -> GitIgnore:
        rules: list[IgnoreRule] = []
        for raw in text.splitlines():
            line = _strip_trailing_spaces(raw.rstrip("\r"))
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            dir_only = False
            # A trailing unescaped '/' means "directories only".
            if line.endswith("/") and not line.endswith("\\/"):
                dir_only = True
                line = line.rstrip("/")
            if not line:
                continue  # "/", "!" and "!/" match nothing
            rules.append(
                IgnoreRule(
                    pattern=raw.strip(),
                    regex=compile_wildmatch(line),
                    negated=negated,
                    dir_only=dir_only,
                )
            )
        return cls(rules)

    def _decide(self, path: str, is_dir: bool) -> bool | None:
        """True: excluded, False: re-included by a `!` line, None: no line matches."""
        for rule in reversed(self.rules):
            if rule.matches(path, is_dir):
                return not rule.negated
        return None

    def ignores(self, path: str, is_dir: bool = False) -> bool:
        """Whether `path` (repository-relative) is ignored.

        A path ending in `/` is taken to be a directory. A file is ignored if any of
        its parent directories is.
        """
        if path.endswith("/"):
            is_dir = True
        norm = normalize_repo_path(path)
        if not norm or not self.rules:
            return False
        parts = norm.split("/")
        for depth in range(1, len(parts)):
            if self._decide("/".join(parts[:depth]), True):
                return True
        return bool(self._decide(norm, is_dir))
