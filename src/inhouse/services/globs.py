"""Git's wildmatch patterns (as `.gitignore` and `.gitattributes` use them), matched in linear time.

`GlobSet(patterns)` compiles a list of patterns into one automaton and answers, for a
repository path, which patterns match it (`matches`) or match each of its leading
directories (`prefix_matches`). The cost of a call is one pass over the path's bytes
with a fixed number of integer operations on a bitmask of all patterns' states: no
backtracking, so it is O(len(path) * total pattern length) whatever the patterns are
(`**/**/**/zz` costs what `zz` costs). The number and total length of the patterns are
capped (`MAX_PATTERNS`, `MAX_PATTERN_BYTES`).

Matching follows git (dir.c's match_basename/match_pathname and wildmatch.c), byte by
byte over UTF-8, case-sensitively:

* a pattern without `/` is matched against the last name of the path (at any depth);
  one with a `/` (leading, middle, or escaped) against the whole path, a leading `/`
  dropped;
* `*` and `?` match any byte but `/`; `[...]`, `[!...]`, `[^...]` classes with ranges,
  escapes and `[:alpha:]`-style names (never matching `/`); `\\x` is a literal `x`;
* `**` between slashes (or at either end) crosses directories: `**/x` is `x` at any
  depth, `x/**` everything inside `x`, `a/**/b` zero or more directories between; any
  other `**` is a `*`;
* a malformed pattern (a trailing backslash, a class that never closes or names an
  unknown `[:class:]`) matches nothing.

As in git, the literal start of an anchored pattern (up to its first `*?[\\`) is
compared first and the rest is matched as a pattern of its own, so a `**` right after
it counts as "at the start": `/data**` matches `data/x/y` and `/x**/y` matches `xy`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from inhouse.errors import PayloadTooLarge

__all__ = ["MAX_PATTERNS", "MAX_PATTERN_BYTES", "GlobSet", "normalize_repo_path", "wildmatch"]

#: Most patterns one `.gitignore` or `.gitattributes` may hold for preupload. The
#: largest common templates (github/gitignore's VisualStudio.gitignore) have ~400;
#: the Hub's default `.gitattributes` has ~50.
MAX_PATTERNS = 1000

#: Most bytes all those patterns may add up to (comments, blank lines and attributes do
#: not count). Matching reads each path byte once with ten operations on ints of about
#: this many bits. The worst preupload (1,000 paths of 1,024 characters, patterns built
#: to keep every state alive) measured ~1.5 CPU-seconds with ASCII paths and ~5 when every
#: character takes 4 bytes, spent in microsecond steps that let other requests run; the
#: Hub's default `.gitattributes` and 1,000 ordinary paths take ~10 ms.
MAX_PATTERN_BYTES = 16 * 1024

_SLASH = 0x2F
_ALL = (1 << 256) - 1
_NOT_SLASH = _ALL & ~(1 << _SLASH)


def _span(lo: int, hi: int) -> int:
    """The byte set lo..hi (inclusive) as a 256-bit membership mask."""
    return ((1 << (hi + 1)) - 1) & ~((1 << lo) - 1) if lo <= hi else 0


def _set(chars: bytes) -> int:
    m = 0
    for c in chars:
        m |= 1 << c
    return m


_UPPER = _span(0x41, 0x5A)
_LOWER = _span(0x61, 0x7A)
_DIGIT = _span(0x30, 0x39)
# git's own ctype tables (git-compat-util.h), ASCII only: isspace is " \t\n\r".
_POSIX_CLASSES: dict[bytes, int] = {
    b"alnum": _UPPER | _LOWER | _DIGIT,
    b"alpha": _UPPER | _LOWER,
    b"blank": _set(b" \t"),
    b"cntrl": _span(0x00, 0x1F) | (1 << 0x7F),
    b"digit": _DIGIT,
    b"graph": _span(0x21, 0x7E),
    b"lower": _LOWER,
    b"print": _span(0x20, 0x7E),
    b"punct": _span(0x21, 0x2F) | _span(0x3A, 0x40) | _span(0x5B, 0x60) | _span(0x7B, 0x7E),
    b"space": _set(b" \t\n\r"),
    b"upper": _UPPER,
    b"xdigit": _DIGIT | _span(0x41, 0x46) | _span(0x61, 0x66),
}

# A token of a compiled pattern is one state: (bytes that move on to the next state, bytes
# that stay on this one, whether the next state is reachable without reading a byte,
# whether entering this state also enters the next). The last state of a pattern means
# "matched".
_Token = tuple[int, int, bool, bool]
_STAR: _Token = (0, _NOT_SLASH, True, False)  # `*`: any run of bytes but '/'
_DSTAR: _Token = (0, _ALL, True, False)  # trailing `**`: anything
# `**/`: no directory (entering it enters what follows), or anything up to and including
# a '/'. It is only ever entered by reading a byte (it follows a '/', a literal start, or
# nothing), never through a `*`, so one shift per byte follows both kinds of empty move.
_DIRS: _Token = (1 << _SLASH, _ALL, False, True)
_QMARK: _Token = (_NOT_SLASH, 0, False, False)
_GLOB_SPECIAL = b"*?[\\"


def _literal(c: int) -> _Token:
    return (1 << c, 0, False, False)


def _parse_class(p: bytes, i: int) -> tuple[int, int] | None:
    """Parse the bracket expression at p[i] == '[' as git's wildmatch does.

    Returns (set of bytes, index after the closing ']'), or None when it is malformed.
    """
    n = len(p)
    i += 1
    negated = i < n and p[i] in b"!^"
    if negated:
        i += 1
    members = 0
    prev = -1  # the previous single byte, which a following '-' makes the start of a range
    first = True
    while True:
        if i >= n:
            return None
        c = p[i]
        if c == 0x5D and not first:  # ']'
            break
        first = False
        if c == 0x5C:  # '\\'
            i += 1
            if i >= n:
                return None
            members |= 1 << p[i]
            prev = p[i]
        elif c == 0x2D and prev >= 0 and i + 1 < n and p[i + 1] != 0x5D:  # '-' between two bytes
            i += 1
            hi = p[i]
            if hi == 0x5C:
                i += 1
                if i >= n:
                    return None
                hi = p[i]
            members |= _span(prev, hi)  # a reversed range matches nothing, as in git
            prev = -1
        elif c == 0x5B and i + 1 < n and p[i + 1] == 0x3A:  # '[:'
            close = p.find(b"]", i + 2)
            if close == -1:
                return None
            if close - 1 < i + 2 or p[close - 1] != 0x3A:  # no ":]": the '[' is an ordinary member
                members |= 1 << c
                prev = c
            else:
                named = _POSIX_CLASSES.get(p[i + 2 : close - 1])
                if named is None:
                    return None
                members |= named
                prev = -1
                i = close
        else:
            members |= 1 << c
            prev = c
        i += 1
    if negated:
        members = _ALL & ~members
    return members & _NOT_SLASH, i + 1


def _tokens(p: bytes, start: int, *, basename: bool) -> list[_Token] | None:
    """Tokens of the wildmatch pattern p[start:] (None if malformed).

    `basename`: the pattern has no '/' and is matched against one name, where every `**`
    is a `*`.
    """
    out: list[_Token] = []
    n = len(p)
    i = start
    while i < n:
        c = p[i]
        if c == 0x5C:  # '\\'
            if i + 1 >= n:
                return None  # a trailing backslash never matches
            out.append(_literal(p[i + 1]))
            i += 2
        elif c == 0x2A:  # '*'
            j = i
            while j < n and p[j] == 0x2A:
                j += 1
            double = (
                not basename
                and j - i >= 2
                and (i == start or p[i - 1] == _SLASH)
                and (j == n or p[j] == _SLASH or p[j : j + 2] == b"\\/")
            )
            if not double:
                out.append(_STAR)
            elif j < n and p[j] == _SLASH:
                j += 1
                # `**/**/` is `**/`, and `**/**` at the end is `**`: one state however many.
                if not (out and out[-1] is _DIRS):
                    out.append(_DIRS)
            elif out and out[-1] is _DIRS:
                out[-1] = _DSTAR
            else:
                out.append(_DSTAR)
            i = j
        elif c == 0x3F:  # '?'
            out.append(_QMARK)
            i += 1
        elif c == 0x5B:  # '['
            parsed = _parse_class(p, i)
            if parsed is None:
                return None
            members, i = parsed
            out.append((members, 0, False, False))
        else:
            out.append(_literal(c))
            i += 1
    return out


def _compile(pattern: bytes) -> tuple[bool, list[_Token] | None]:
    """(anchored, tokens) of one pattern (no leading `!`, no trailing `/`)."""
    pattern = pattern.split(b"\0", 1)[0]  # git reads patterns as C strings
    if _SLASH not in pattern:
        return False, _tokens(pattern, 0, basename=True)
    if pattern.startswith(b"/"):
        pattern = pattern[1:]
    # git compares the literal start (up to the first glob character) on its own, then
    # matches the rest as a pattern that starts there.
    literal = 0
    while literal < len(pattern) and pattern[literal] not in _GLOB_SPECIAL:
        literal += 1
    rest = _tokens(pattern, literal, basename=False)
    if rest is None:
        return True, None
    return True, [_literal(c) for c in pattern[:literal]] + rest


def _as_bytes(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass")


def _mask(positions: list[int], width: int) -> int:
    """An int with the given bit positions set, built in one pass (not one big OR per bit)."""
    buf = bytearray((width + 8) // 8)
    for pos in positions:
        buf[pos >> 3] |= 1 << (pos & 7)
    return int.from_bytes(buf, "little")


def _edges(members: int) -> Iterator[int]:
    """The bytes where membership in `members` switches on or off (0..256)."""
    edges = members ^ (members << 1)
    while edges:
        low = edges & -edges
        yield low.bit_length() - 1
        edges ^= low


class GlobSet:
    """Patterns compiled into one automaton; pattern i's matches show as bit `bit(i)` of a mask.

    Every state of every pattern is one bit of an int. Reading a byte b maps the active
    states S to `(S & stay[b]) | entered` with `entered = (S & advance[b]) << 1`, then
    follows the moves that read nothing: `**/` states just entered also enter their next
    state, and `*`/`**` states enter theirs. That is a fixed number of integer operations
    per byte, whatever the patterns. Patterns matched against names (no '/') start again
    after every '/'.
    """

    def __init__(self, patterns: Sequence[str | bytes], *, what: str = "The pattern list") -> None:
        encoded = [_as_bytes(p) for p in patterns]
        total = sum(len(p) for p in encoded)
        if len(encoded) > MAX_PATTERNS or total > MAX_PATTERN_BYTES:
            raise PayloadTooLarge(
                f"{what} has {len(encoded)} patterns ({total} bytes); at most {MAX_PATTERNS} patterns "
                f"and {MAX_PATTERN_BYTES} bytes of patterns are evaluated. Remove patterns you do not "
                f"need (for example, merge several into one with `*` or `**`)."
            )
        advance_at: list[list[int]] = [[] for _ in range(257)]
        stay_at: list[list[int]] = [[] for _ in range(257)]
        empty: list[int] = []
        on_entry: list[int] = []
        starts: list[int] = []
        restarts: list[int] = []
        accepts: list[int] = []
        pos = 0
        for p in encoded:
            anchored, tokens = _compile(p)
            tokens = tokens or []
            for k, (advance, stay, skip, entry_skip) in enumerate(tokens):
                for e in _edges(advance):
                    advance_at[e].append(pos + k)
                for e in _edges(stay):
                    stay_at[e].append(pos + k)
                if skip:
                    empty.append(pos + k)
                if entry_skip:
                    on_entry.append(pos + k)
            if tokens:
                (starts if anchored else restarts).append(pos)
            pos += len(tokens)
            accepts.append(pos)
            pos += 1
        width = pos
        self._bits = [1 << a for a in accepts]
        self._index_of = {a: i for i, a in enumerate(accepts)}
        self._accept = _mask(accepts, width)
        self._skip = _mask(empty, width)
        self._entry = _mask(on_entry, width)
        # The tokenizer's guarantees that make one shift of each kind per byte enough:
        # no `*`/`**` leads into another or into a `**/` (which is entered by a byte), and
        # no `**/` into another (they are merged).
        assert not ((self._skip << 1) & (self._skip | self._entry)) | ((self._entry << 1) & self._entry)
        # Membership edges -> per-byte masks: each state's bit is unique, so a running XOR
        # over the edge positions switches it on over exactly its byte ranges.
        self._advance: list[int] = []
        self._stay: list[int] = []
        advance = stay = 0
        for b in range(256):
            if advance_at[b]:
                advance ^= _mask(advance_at[b], width)
            if stay_at[b]:
                stay ^= _mask(stay_at[b], width)
            self._advance.append(advance)
            self._stay.append(stay)
        self._restart = self._closure(_mask(restarts, width))
        self._start = self._closure(_mask(starts, width)) | self._restart

    def __len__(self) -> int:
        return len(self._bits)

    @property
    def states(self) -> int:
        """How many states (bits) the automaton has: at most one per pattern byte, plus one per pattern."""
        return self._accept.bit_length()

    def bit(self, index: int) -> int:
        """The bit that stands for pattern `index` in the masks `matches` returns."""
        return self._bits[index]

    def indices(self, mask: int) -> Iterator[int]:
        """The indices of the patterns in `mask`, last pattern first."""
        while mask:
            top = mask.bit_length() - 1
            yield self._index_of[top]
            mask ^= 1 << top

    def _closure(self, entered: int) -> int:
        """`entered` plus what it reaches without reading a byte."""
        entered |= (entered & self._entry) << 1
        return entered | ((entered & self._skip) << 1)

    def prefix_matches(self, path: str) -> list[int]:
        """For a normalized path `a/b/c`: the masks of the patterns matching `a`, `a/b`, `a/b/c`.

        One pass over the path's bytes; each byte costs the same ten operations on ints
        of `states` bits.
        """
        advance, stay, accept = self._advance, self._stay, self._accept
        skip, entry, restart = self._skip, self._entry, self._restart
        s = self._start
        out: list[int] = []
        for b in _as_bytes(path):
            if b == _SLASH:
                out.append(s & accept)
            entered = (s & advance[b]) << 1
            s = (s & stay[b]) | entered | ((entered & entry) << 1)
            s |= (s & skip) << 1
            if b == _SLASH:
                s |= restart
        out.append(s & accept)
        return out

    def matches(self, path: str) -> int:
        """The mask of the patterns matching the whole (normalized) path."""
        return self.prefix_matches(path)[-1]


def wildmatch(pattern: str | bytes, path: str) -> bool:
    """Whether one pattern matches a normalized repository path."""
    return GlobSet([pattern]).matches(path) != 0


def normalize_repo_path(path: str) -> str:
    """Turn `./a//b/` or `/a/b` into `a/b` (repository-relative, `/`-separated)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)
