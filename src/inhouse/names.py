"""Validation of every name a user can send: repo ids, file paths, branch and tag names. One place.

Repo, user, organisation and group names follow the Hub (huggingface_hub's `validate_repo_id`): 1-96 ASCII
letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', no '--' or '..', not ending in '.git'.

File paths may hold any printable Unicode letter (accented letters, CJK …) but are refused when a client could be
fooled by them or when git on some operating system would treat them as its own folder:
- a segment that git's `verify_path` refuses: empty, '.', '..', '.git' in any case; what Windows reads as '.git'
  (trailing dots or spaces, the 8.3 short name 'git~1', an NTFS alternate stream like '.git::$INDEX_ALLOCATION':
  git's `is_ntfs_dotgit`); what macOS HFS+ reads as '.git' (with ignorable code points inside: `is_hfs_dotgit`);
- control characters (C0, DEL, C1), format and bidi controls (U+200E/F, U+202A-U+202E, U+2066-U+2069, zero-width
  characters, U+FEFF …), other default-ignorable code points, line/paragraph separators, spaces other than U+0020,
  private-use, unassigned and surrogate code points;
- look-alikes: a character that stands for ASCII (fullwidth or mathematical letters, ligatures, superscripts: any
  non-ASCII character whose NFKC form is ASCII), slash look-alikes (U+2215, U+2044, …), and a segment that mixes
  the letters of several scripts (e.g. Latin with Cyrillic), except Latin with Han, Hiragana, Katakana, Hangul or
  Bopomofo, as in Unicode's "highly restrictive" identifier profile (UTS #39);
- a path that is not in Unicode NFC: it is refused, not normalised, so that what is stored is exactly what the
  client sent and will ask for again (normalise it with `unicodedata.normalize("NFC", path)`).
"""

from __future__ import annotations

import array
import re
import threading
import unicodedata

from inhouse.errors import BadRequest, InvalidPath, InvalidRepoId

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,96}")
RESERVED_NAMESPACES = frozenset(
    {"api", "datasets", "spaces", "models", "kernels", "docs", "login", "logout", "join", "settings", "static",
     "new", "admin", "organizations", "ui", "cas", "-", "_"}
)
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_PATH_LEN = 1024
MAX_REVISION_LEN = 255  # the longest ref name a repo can hold (and the audit log records)

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible when rendered. Most are format
# characters (category Cf) and refused as such; this list catches the letters and marks among them too.
_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
# Code points HFS+ ignores when it compares names (git's next_hfs_char): ".g\u200cit" is ".git" on a Mac.
_HFS_IGNORED = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x206A, 0x206B, 0x206C, 0x206D,
     0x206E, 0x206F, 0xFEFF]
)
# Characters that draw as a path separator without being one (NFKC leaves them alone, so they are listed here).
_SEPARATOR_LOOKALIKES = {"\u2044": "/", "\u2215": "/", "\u2571": "/", "\u29F8": "/", "\u2216": "\\",
                         "\u29F5": "\\", "\u29F9": "\\"}
_EAST_ASIAN = frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"})


def char_name(c: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': how error messages name a character."""
    name = unicodedata.name(c, "")
    return f"U+{ord(c):04X} {name}" if name else f"U+{ord(c):04X}"


# What a code point is, for the checks below: looked up once per code point and kept in a 2-byte cell (2.2 MB at
# most), so that checking a path costs a set() of its characters and a lookup per distinct one, whatever the
# caller sends. A cell holds 1 + (reason << 11 | looks_like_ascii << 10 | script); 0 means not looked up yet.
# It is a memo of a pure function of the code point (Unicode data), so every app in the process may share it.
_REASONS: tuple[str | None, ...] = (
    None, "a control character", "an invisible formatting character", "a lone surrogate", "a private-use character",
    "an unassigned code point", "a line separator", "a paragraph separator", "a space other than U+0020",
    "an invisible character",
)
_CATEGORY_REASON = {"Cc": 1, "Cf": 2, "Cs": 3, "Co": 4, "Cn": 5, "Zl": 6, "Zp": 7, "Zs": 8}
_NOT_A_LETTER, _MARK = 0, 1  # script ids: 0 separates words, 1 (a combining mark) joins them, 2… are scripts
_SCRIPT_NAMES: list[str] = ["", "MARK"]
_SCRIPT_IDS: dict[str, int] = {"": 0, "MARK": 1}
_CELLS = array.array("H", bytes(2 * 0x110000))
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SCRIPTS_LOCK = threading.Lock()  # two threads meeting new scripts at once must not get the same id


def _classify(c: str) -> int:
    cp = ord(c)
    cat = unicodedata.category(c)
    reason = 0
    if c != " ":
        reason = _CATEGORY_REASON.get(cat, 0)
        if not reason and (any(lo <= cp <= hi for lo, hi in _IGNORABLE) or cp == 0x2800):
            reason = 9
    looks_like_ascii = cp > 0x7F and (c in _SEPARATOR_LOOKALIKES or unicodedata.normalize("NFKC", c).isascii())
    script = _NOT_A_LETTER
    if cat[0] == "M":
        script = _MARK
    elif cat[0] == "L":
        words = unicodedata.name(c, "").split(" ")
        first = words[1] if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1 else words[0]
        first = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KATAKANA-HIRAGANA": "KATAKANA", "MICRO": "GREEK"}.get(
            first, first)
        with _SCRIPTS_LOCK:
            script = _SCRIPT_IDS.setdefault(first, len(_SCRIPT_IDS))
            if script == len(_SCRIPT_NAMES):
                _SCRIPT_NAMES.append(first)
    return 1 + (reason << 11 | int(looks_like_ascii) << 10 | script)


def _cell(c: str) -> int:
    cp = ord(c)
    value = _CELLS[cp]
    if not value:
        value = _CELLS[cp] = _classify(c)
    return value - 1


def unsafe_char(c: str) -> str | None:
    """Why `c` may not appear in a name or path (control, invisible, separator-like …), or None when it may."""
    return _REASONS[_cell(c) >> 11]


def shown(text: str, limit: int = 200) -> str:
    """`text` with every unsafe character escaped as \\uXXXX, cut to `limit` characters: safe to echo back."""
    out = "".join(f"\\u{ord(c):04x}" if unsafe_char(c) else c for c in text[:limit])
    return out + ("…" if len(text) > limit else "")


def _cells(text: str) -> dict[str, int]:
    """The cell of each distinct character of `text`."""
    return {c: _cell(c) for c in set(text)}


def _first(text: str, chars: list[str]) -> str:
    return min(chars, key=text.index)


def _first_unsafe(text: str, cells: dict[str, int] | None = None) -> tuple[str, str] | None:
    if text.isascii():  # the usual case, checked quickly
        m = _ASCII_CONTROL.search(text)
        return (m.group(), "a control character") if m else None
    cells = _cells(text) if cells is None else cells
    found = [c for c, v in cells.items() if v >> 11]
    if not found:
        return None
    c = _first(text, found)
    return c, _REASONS[cells[c] >> 11] or ""


def _lookalike(c: str) -> str | None:
    """The ASCII text a non-ASCII character stands in for ('ｃ' → 'c', '∕' → '/'), or None."""
    if not _cell(c) & (1 << 10):
        return None
    return _SEPARATOR_LOOKALIKES.get(c) or unicodedata.normalize("NFKC", c)


def _first_lookalike(text: str, cells: dict[str, int]) -> str | None:
    found = [c for c, v in cells.items() if v & (1 << 10)]
    return _first(text, found) if found else None


def mixed_scripts(segment: str, cells: dict[str, int] | None = None) -> tuple[str, str, str] | None:
    """(word, script, script) for the first word of `segment` whose letters mix scripts where that is a spoofing
    risk ('mоdel' with a Cyrillic 'о'), or None. A word is a run of letters and combining marks: 'файл.txt' is two
    words, each in one script, and fine."""
    if segment.isascii():
        return None
    scripts = {c: v & 0x3FF for c, v in (_cells(segment) if cells is None else cells).items()}
    if not _risky({s for s in scripts.values() if s > _MARK}):
        return None
    # each letter becomes a character naming its script, marks vanish (they join), anything else splits words
    table = {ord(c): (None if s == _MARK else " " if s == _NOT_A_LETTER else chr(0xF0000 + s))
             for c, s in scripts.items()}
    at = 0
    for coded in segment.translate(table).split():
        ids = {ord(ch) - 0xF0000 for ch in set(coded)}
        if _risky(ids):
            names = sorted(_SCRIPT_NAMES[i] for i in ids)
            word = _word_at(segment, coded, at)
            others = [n for n in names if n != "LATIN"]
            return (word, "LATIN", others[0]) if "LATIN" in names else (word, names[0], names[1])
        at += 1
    return None


def _risky(ids: set[int]) -> bool:
    names = {_SCRIPT_NAMES[i] for i in ids}
    return len(names) > 1 and not names <= _EAST_ASIAN | {"LATIN"}


def _word_at(segment: str, coded: str, index: int) -> str:
    """The `index`-th word of `segment`, as it was written (for the error message)."""
    words, current = [], ""
    for c in segment + ".":
        if _cell(c) & 0x3FF == _NOT_A_LETTER:
            if any(_cell(ch) & 0x3FF > _MARK for ch in current):  # marks alone make no word
                words.append(current)
            current = ""
        else:
            current += c
    return words[index] if index < len(words) else coded


def is_git_dir_name(segment: str) -> bool:
    """Would git (on Linux, Windows or macOS) take this path segment for its own '.git' folder?

    git's verify_dotfile (".git" in any case), is_ntfs_dotgit (".git" or "git~1" followed only by dots and
    spaces, or by ':' and an alternate data stream) and is_hfs_dotgit (".git" with ignorable code points inside).
    """
    low = segment.lower()
    for stem in (".git", "git~1"):
        if low.startswith(stem) and all(c in ". " for c in low[len(stem):].split(":", 1)[0]):
            return True
    return "".join(c for c in low if ord(c) not in _HFS_IGNORED) == ".git"


def check_name_part(part: str, what: str = "name") -> str:
    """A repo, user, organisation or group name: the Hub's rule (see the module docstring)."""
    rule = ("use 1-96 ASCII letters, digits, '-', '_' or '.', not starting or ending with '-' or '.', without '--' "
            "or '..', and not ending in '.git'.")
    if not isinstance(part, str):
        raise InvalidRepoId(f"Invalid repo {what}: expected a string; {rule}")
    odd = next((c for c in part if not (c.isascii() and c.isprintable())), None)
    if odd is not None:
        kind = unsafe_char(odd) or "a non-ASCII character"
        raise InvalidRepoId(f"Invalid repo {what} '{shown(part, 100)}': it contains {kind} ({char_name(odd)}); {rule}")
    if (
        not _NAME.fullmatch(part)
        or "--" in part
        or ".." in part
        or part.startswith(("-", "."))
        or part.endswith(("-", "."))
        or part.lower().endswith(".git")
    ):
        raise InvalidRepoId(f"Invalid repo {what} '{shown(part, 100)}': {rule}")
    return part


def check_repo_id(namespace: str, name: str) -> tuple[str, str]:
    check_name_part(namespace, "namespace")
    check_name_part(name, "name")
    if namespace.lower() in RESERVED_NAMESPACES:
        raise InvalidRepoId(f"'{namespace}' is a reserved namespace; choose another owner name.")
    return namespace, name


def split_repo_id(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise InvalidRepoId(f"Invalid repo id '{shown(repo_id, 200)}': expected 'namespace/name'.")
    return check_repo_id(parts[0], parts[1])


def check_path(path: str) -> str:
    """A file path inside a repo: relative, forward slashes, and safe for git and every client (module docstring)."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("Empty file path: give the path of the file inside the repo, e.g. 'config.json'.")
    if len(path) > MAX_PATH_LEN:
        raise InvalidPath(f"File path is longer than {MAX_PATH_LEN} characters.")
    cells = None if path.isascii() else _cells(path)
    bad = _first_unsafe(path, cells)
    if bad is not None:
        c, why = bad
        raise InvalidPath(f"Invalid path '{shown(path)}': it contains {why} ({char_name(c)}), which file names may "
                          "not hold; rename the file.")
    if "\\" in path:
        raise InvalidPath(f"Invalid path '{path}': use forward slashes; backslashes are not allowed.")
    if path.startswith("/"):
        raise InvalidPath(f"Invalid path '{path}': paths are relative to the repo root; remove the leading '/'.")
    if cells is not None:
        if not unicodedata.is_normalized("NFC", path):
            raise InvalidPath(f"Invalid path '{path}': it is not in Unicode NFC form (e.g. an accent stored as a "
                              "separate combining character); send unicodedata.normalize('NFC', path) instead.")
        alike = _first_lookalike(path, cells)
        if alike is not None:
            stands_for = _lookalike(alike)
            raise InvalidPath(f"Invalid path '{path}': '{alike}' ({char_name(alike)}) looks like '{stands_for}'; "
                              f"use '{stands_for}' instead.")
    segments = path.split("/")
    if "" in segments or "." in segments or ".." in segments:
        raise InvalidPath(f"Invalid path '{path}': empty, '.' and '..' segments are not allowed.")
    low = path.lower()
    if ".g" in low or "git~1" in low:  # the segments are looked at one by one only when one might be '.git'
        for seg in segments:
            if is_git_dir_name(seg):
                raise InvalidPath(f"Invalid path '{path}': '{seg}' is git's own '.git' folder on some systems (any "
                                  "case, trailing dots or spaces, 'git~1', ':' streams); '.git' folders cannot be "
                                  "committed.")
    mixed = mixed_scripts(path, cells)  # '/' separates words as any non-letter does
    if mixed is not None:
        word, one, other = mixed
        raise InvalidPath(f"Invalid path '{path}': '{word}' mixes {one.title()} and {other.title()} letters, a "
                          "way to make a name look like another; write each word in one script.")
    return path


def check_folder(path: str) -> str:
    return check_path(path.rstrip("/"))


def check_existing_path(path: str) -> str:
    """A path that names what a repo may already hold, to delete it: only its shape is checked (relative, forward
    slashes, no empty, '.' or '..' segment, no NUL, bounded length), not the naming rules of `check_path`, so that a
    file committed under a name those rules now refuse (made before they existed) can still be removed. Deleting
    never writes the name into a tree, and a name the repo does not hold is EntryNotFound."""
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidPath("Empty file path: give the path of the file or folder inside the repo to delete.")
    if len(path) > MAX_PATH_LEN:
        raise InvalidPath(f"File path is longer than {MAX_PATH_LEN} characters.")
    if "\0" in path or "\\" in path or path.startswith("/"):
        raise InvalidPath(f"Invalid path '{shown(path)}': give the path relative to the repo root, with forward "
                          "slashes.")
    segments = path.rstrip("/").split("/")
    if "" in segments or "." in segments or ".." in segments:
        raise InvalidPath(f"Invalid path '{shown(path)}': empty, '.' and '..' segments are not allowed.")
    return path


def check_ref_name(name: str, what: str = "branch") -> str:
    """A branch or tag name, following git's check-ref-format rules, without invisible or control characters."""
    bad = _first_unsafe(name) if isinstance(name, str) else None
    if bad is not None:
        raise BadRequest(f"Invalid {what} name '{shown(name)}': it contains {bad[1]} ({char_name(bad[0])}).")
    if (
        not name
        or len(name) > 200
        or _BAD_REF_CHARS.search(name)
        or ".." in name
        or "//" in name
        or "@{" in name
        or name.startswith(("/", "-", "."))
        or name.endswith(("/", "."))
        or any(part.endswith(".lock") for part in name.split("/"))
        or name == "@"
        or name.startswith("refs/")
        or "/." in name
        or not unicodedata.is_normalized("NFC", name)
    ):
        raise BadRequest(
            f"Invalid {what} name '{name}': use letters, digits, '-', '_', '.' and '/', without spaces, '..' or "
            "any of ~^:?*[\\."
        )
    return name


def check_label(text: str, what: str, max_len: int = 200) -> str:
    """A free-text label people read (a token's name, a full name): at most `max_len` characters, and none of the
    control or invisible characters that could make it read as something else."""
    if len(text) > max_len:
        raise BadRequest(f"The {what} is longer than {max_len} characters; shorten it.")
    bad = _first_unsafe(text)
    if bad is not None:
        raise BadRequest(f"The {what} '{shown(text)}' contains {bad[1]} ({char_name(bad[0])}); remove it.")
    return text


def check_revision(revision: str) -> str:
    """A revision a caller names (branch, tag, sha, refs/pr/N): refused only when no ref could ever be named so."""
    if len(revision) > MAX_REVISION_LEN:
        raise BadRequest(f"Invalid revision: longer than {MAX_REVISION_LEN} characters.")
    bad = _first_unsafe(revision)
    if bad is not None and bad[1] in ("a control character", "a lone surrogate"):
        raise BadRequest(f"Invalid revision '{shown(revision)}': it contains {bad[1]} ({char_name(bad[0])}).")
    return revision


def is_commit_sha(rev: str) -> bool:
    return len(rev) == 40 and all(c in "0123456789abcdef" for c in rev)


def is_short_sha(rev: str) -> bool:
    return 7 <= len(rev) < 40 and all(c in "0123456789abcdef" for c in rev)
