""".gitignore matching, for the preupload endpoint's `shouldIgnore` answer.

`GitIgnore.parse(text).ignores(path)` follows git's rules (gitignore(5)):

* lines are split at `\\n` (one trailing `\\r` dropped); a UTF-8 byte order mark at the
  start is skipped; blank lines and lines starting with `#` are skipped; `\\#` and `\\!`
  are literal;
* trailing spaces are dropped unless escaped with a backslash;
* `!pattern` re-includes what an earlier pattern excluded; the last matching line wins;
* `pattern/` matches directories only (and so everything under them);
* the patterns themselves are git's wildmatch patterns, matched by `globs.GlobSet` in
  time linear in the path (see that module for the rules);
* a file inside an ignored directory is ignored, and a later `!` line cannot bring it
  back (git does not look inside excluded directories).

Only the one root `.gitignore` is modelled; paths are repository-relative with `/`.
Matching is case-sensitive (git's default on Linux) and byte-wise over UTF-8, as git's.
At most `globs.MAX_PATTERNS` patterns of `globs.MAX_PATTERN_BYTES` bytes in all are
evaluated; more is refused (413) rather than matched slowly.
"""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.services.globs import GlobSet, normalize_repo_path

__all__ = ["GitIgnore", "IgnoreRule", "normalize_repo_path"]


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
    """One parsed .gitignore line: `pattern` is what is matched (no `!`, no trailing `/`)."""

    pattern: str
    negated: bool
    dir_only: bool


class GitIgnore:
    """A parsed root `.gitignore`. Build it with `GitIgnore.parse(text)`."""

    def __init__(self, rules: list[IgnoreRule], *, what: str = "The .gitignore"):
        self.rules = rules
        self._globs = GlobSet([r.pattern for r in rules], what=what)
        bits = [self._globs.bit(i) for i in range(len(rules))]
        self._negated = sum(b for b, r in zip(bits, rules) if r.negated)
        self._files = sum(b for b, r in zip(bits, rules) if not r.dir_only)  # the rules a file can match

    @classmethod
    def parse(cls, text: str, *, what: str = "The .gitignore") -> GitIgnore:
        """Parse `.gitignore` text; `what` names it in the error raised when it has too many patterns."""
        rules: list[IgnoreRule] = []
        if text.startswith("\ufeff"):
            text = text[1:]
        for raw in text.split("\n"):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line or line.startswith("#"):
                continue
            line = _strip_trailing_spaces(line)
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            # One trailing '/' means "directories only" (git drops just one, escaped or not).
            dir_only = line.endswith("/")
            if dir_only:
                line = line[:-1]
            if not line:
                continue  # "/", "!" and "!/" match nothing
            rules.append(IgnoreRule(pattern=line, negated=negated, dir_only=dir_only))
        return cls(rules, what=what)

    def _excluded(self, mask: int) -> bool | None:
        """True: excluded, False: re-included by a `!` line, None: no line matches."""
        if not mask:
            return None
        return not (self._negated >> (mask.bit_length() - 1)) & 1

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
        *parents, last = self._globs.prefix_matches(norm)
        if any(self._excluded(m) for m in parents):
            return True
        return bool(self._excluded(last if is_dir else last & self._files))
