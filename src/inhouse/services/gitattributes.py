"""Which paths are stored with Git LFS: the repo's `.gitattributes` plus the preupload policy.

* `default_gitattributes(repo_type)` is the `.gitattributes` the Hugging Face Hub commits
  into a new repository (models and spaces share one list; datasets add media and
  packed-data formats).
* `LfsRules.parse(text).is_lfs(path)` evaluates the `filter` attribute the way git does:
  the last line that matches the path and mentions `filter` wins; `filter=lfs` sets it,
  `-filter` unsets it, `!filter` makes it unspecified again.
* `should_upload_as_lfs(path, size, sample, rules)` is the answer the preupload endpoint
  gives (`uploadMode: "lfs"` or `"regular"`).

Pattern semantics are git's, matched in time linear in the path (see `globs`), with the
attribute-file differences: `!pattern` lines are rejected by git and ignored here, and a
pattern ending in `/` never matches (attributes do not apply to directories; use
`dir/**`). Macros (`[attr]name ...`) are expanded as git does. At most
`globs.MAX_PATTERNS` patterns (and as many settings of `filter`) of
`globs.MAX_PATTERN_BYTES` bytes in all are evaluated; more is refused (413).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from inhouse.errors import PayloadTooLarge
from inhouse.services.globs import MAX_PATTERNS, GlobSet, normalize_repo_path
from inhouse.vocabulary import RepoType

__all__ = [
    "DEFAULT_GITATTRIBUTES",
    "DATASET_GITATTRIBUTES",
    "LFS_SIZE_THRESHOLD",
    "LfsRules",
    "MAX_LINE_BYTES",
    "default_gitattributes",
    "looks_binary",
    "should_upload_as_lfs",
]

_LFS = "filter=lfs diff=lfs merge=lfs -text"

_MODEL_PATTERNS = [
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
    "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
    "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
    "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
    "*.zst", "*tfevents*",
]  # fmt: skip

# The dataset list: the model list with the packed-data formats the Hub adds for
# datasets slotted in alphabetically, then the media sections.
_DATASET_PATTERNS = [
    "*.7z", "*.arrow", "*.avro", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5",
    "*.joblib", "*.lfs.*", "*.lz4", "*.mds", "*.mlmodel", "*.model", "*.msgpack", "*.npy",
    "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth",
    "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz",
    "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
]  # fmt: skip

_DATASET_MEDIA_SECTIONS: list[tuple[str, list[str]]] = [
    ("# Audio files - uncompressed", ["*.pcm", "*.sam", "*.raw"]),
    ("# Audio files - compressed", ["*.aac", "*.flac", "*.mp3", "*.ogg", "*.wav"]),
    ("# Image files - uncompressed", ["*.bmp", "*.gif", "*.png", "*.tiff"]),
    ("# Image files - compressed", ["*.jpg", "*.jpeg", "*.webp"]),
    ("# Video files - compressed", ["*.mp4", "*.webm"]),
]


def _render(patterns: list[str], sections: list[tuple[str, list[str]]] | None = None) -> str:
    lines = [f"{p} {_LFS}" for p in patterns]
    for comment, section in sections or []:
        lines.append(comment)
        lines.extend(f"{p} {_LFS}" for p in section)
    return "\n".join(lines) + "\n"


#: The `.gitattributes` the Hub writes into a new model (or space) repository.
DEFAULT_GITATTRIBUTES: str = _render(_MODEL_PATTERNS)

#: The `.gitattributes` the Hub writes into a new dataset repository.
DATASET_GITATTRIBUTES: str = _render(_DATASET_PATTERNS, _DATASET_MEDIA_SECTIONS)

def default_gitattributes(repo_type: RepoType) -> str:
    """The initial `.gitattributes` for a new repo of `repo_type`."""
    return DATASET_GITATTRIBUTES if repo_type == RepoType.DATASET else DEFAULT_GITATTRIBUTES


# --- parsing -------------------------------------------------------------------------

class _Unspecified(Enum):
    UNSPECIFIED = "unspecified"  # the value of `!filter`


_UNSPECIFIED = _Unspecified.UNSPECIFIED
_State = str | bool | _Unspecified  # a value, True (set), False (unset) or _UNSPECIFIED

#: git ignores `.gitattributes` lines this long or longer (attr.c, ATTR_MAX_LINE_LENGTH).
MAX_LINE_BYTES = 2048

_BLANK = " \t\r\n"  # what separates a pattern and its attributes, for git
_BLANKS = re.compile("[ \t\r\n]+")
_MACRO_PREFIX = b"[attr]"
_NAME_CHARS = frozenset("-._0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_C_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


def _words(s: str) -> list[str]:
    return [w for w in _BLANKS.split(s) if w]


def _valid_name(name: str) -> bool:
    return bool(name) and name[0] != "-" and all(c in _NAME_CHARS for c in name)


def _unquote(line: str) -> tuple[bytes, str] | None:
    """git's unquote_c_style on a line starting with '"': (the pattern, the rest), None if invalid."""
    out = bytearray()
    i = 1
    while i < len(line):
        c = line[i]
        if c == '"':
            return bytes(out), line[i + 1 :]
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        nxt = line[i + 1 : i + 2]
        if nxt in _C_ESCAPES:
            out.append(_C_ESCAPES[nxt])
            i += 2
        elif nxt in ("0", "1", "2", "3") and len(line) >= i + 4 and all(d in "01234567" for d in line[i + 2 : i + 4]):
            out.append(int(line[i + 1 : i + 4], 8))  # octal byte escapes: how git quotes non-ASCII
            i += 4
        else:
            return None
    return None


def _split_line(line: str) -> tuple[bytes, list[str]] | None:
    """(pattern, attribute words) of one line, or None when git skips it (blank, comment, too long)."""
    line = line.split("\0", 1)[0]  # git reads each line as a C string
    body = line.lstrip(_BLANK)
    if not body or body.startswith("#"):
        return None
    if len(line.encode("utf-8", "surrogatepass")) >= MAX_LINE_BYTES:
        return None
    quoted = _unquote(body) if body.startswith('"') else None
    if quoted is not None:
        pattern, rest = quoted
    else:  # unquoted, or a quote git cannot parse: the pattern runs up to the first blank
        end = next((k for k, c in enumerate(body) if c in _BLANK), len(body))
        pattern, rest = body[:end].encode("utf-8", "surrogatepass"), body[end:]
    return pattern, _words(rest)


def _parse_attr(word: str) -> tuple[str, _State] | None:
    """`name`, `-name`, `!name` or `name=value` as (name, state); None when the name is invalid."""
    name, eq, value = word.partition("=")
    if name[:1] in ("-", "!"):
        state: _State = False if name[0] == "-" else _UNSPECIFIED
        name = name[1:]
    else:
        state = value if eq else True
    return (name, state) if _valid_name(name) else None


@dataclass(frozen=True)
class _Rule:
    pattern: bytes
    attrs: tuple[tuple[str, _State], ...]  # only `filter` and the macros that can decide it


class LfsRules:
    """The LFS-relevant part of a `.gitattributes` file. Build it with `LfsRules.parse(text)`."""

    def __init__(self, rules: list[_Rule], macros: dict[str, tuple[tuple[str, _State], ...]],
                 *, what: str = "The .gitattributes"):
        self._rules = rules
        self._macros = macros
        self._globs = GlobSet([r.pattern for r in rules], what=what)

    @classmethod
    def parse(cls, text: str, *, what: str = "The .gitattributes") -> LfsRules:
        """Parse `.gitattributes` text; `what` names it in the error raised when it has too many patterns.

        As git does: lines split at newlines, a UTF-8 BOM skipped, blanks are space, tab
        and CR; a pattern may be C-quoted; a line with an invalid attribute name, a
        `!pattern`, or of MAX_LINE_BYTES or more is ignored; `[attr]name attrs...` defines
        a macro (the last definition wins) that expands where `name` is set.
        """
        if text.startswith("\ufeff"):
            text = text[1:]
        lines: list[tuple[bytes, list[tuple[str, _State]]]] = []
        macros: dict[str, list[tuple[str, _State]]] = {}
        for raw in text.split("\n"):
            split = _split_line(raw[:-1] if raw.endswith("\r") else raw)
            if split is None:
                continue
            pattern, words = split
            maybe = [_parse_attr(w) for w in words]
            parsed = [a for a in maybe if a is not None]
            if len(parsed) < len(maybe):
                continue  # git drops a line with an invalid attribute name
            if pattern.startswith(_MACRO_PREFIX) and len(pattern) > len(_MACRO_PREFIX):
                name = next(iter(_words(pattern[len(_MACRO_PREFIX) :].decode("utf-8", "replace"))), "")
                if _valid_name(name):
                    macros[name] = parsed
                continue
            if pattern.startswith(b"!"):
                continue  # git: "Negative patterns are ignored in git attributes"
            if pattern.endswith(b"/"):
                continue  # a directory pattern: never matches a file
            lines.append((pattern, parsed))
        # The macros that can decide `filter`: those that mention it or such a macro.
        mentioned_by: dict[str, set[str]] = {}
        for name, expansion in macros.items():
            for attr, _ in expansion:
                mentioned_by.setdefault(attr, set()).add(name)
        relevant = {"filter"}
        todo = ["filter"]
        while todo:
            for name in mentioned_by.get(todo.pop(), ()):
                if name not in relevant:
                    relevant.add(name)
                    todo.append(name)
        rules = [_Rule(p, tuple(a for a in line_attrs if a[0] in relevant)) for p, line_attrs in lines]
        rules = [r for r in rules if r.attrs]
        kept = {n: tuple(a for a in expansion if a[0] in relevant)
                for n, expansion in macros.items() if n in relevant}
        mentions = sum(len(r.attrs) for r in rules) + sum(len(a) for a in kept.values())
        if mentions > MAX_PATTERNS:
            raise PayloadTooLarge(
                f"{what} sets `filter` (directly or through macros) {mentions} times; at most "
                f"{MAX_PATTERNS} are evaluated. Merge patterns (for example with `*` or `**`) and "
                f"remove lines you do not need."
            )
        return cls(rules, kept, what=what)

    @classmethod
    def default(cls, repo_type: RepoType = RepoType.MODEL) -> LfsRules:
        return cls.parse(default_gitattributes(repo_type))

    def filter_of(self, path: str) -> str | bool | None:
        """The `filter` attribute of `path`: a value, True/False for set/unset, None if unspecified.

        As git's attr.c: the matching lines are read from the last one up, each line's
        attributes from its last one, and the first assignment of an attribute sticks; an
        attribute set (`name`) that is a macro assigns the macro's attributes there.
        """
        norm = normalize_repo_path(path)
        if not norm:
            return None
        assigned: set[str] = set()
        for index in self._globs.indices(self._globs.matches(norm)):
            stack = [iter(reversed(self._rules[index].attrs))]
            while stack:
                item = next(stack[-1], None)
                if item is None:
                    stack.pop()
                    continue
                name, state = item
                if name in assigned:
                    continue
                if name == "filter":
                    return None if state is _UNSPECIFIED else state
                assigned.add(name)
                if state is True and name in self._macros:
                    stack.append(iter(reversed(self._macros[name])))
        return None

    def is_lfs(self, path: str) -> bool:
        """Whether `.gitattributes` says `path` goes through the LFS filter (`filter=lfs`)."""
        return self.filter_of(path) == "lfs"


# --- preupload policy ----------------------------------------------------------------

#: Files larger than this are stored in LFS whatever `.gitattributes` says; the Hub
#: rejects regular (non-LFS) files above 10 MiB.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024

_SAMPLE_BYTES = 512  # what huggingface_hub sends as `sample` in the preupload request
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")


def looks_binary(sample: bytes) -> bool:
    """Guess whether a file is binary from its first bytes.

    The Hub does not document its detector; this follows the approach of the
    `isbinaryfile` heuristic (and git's own "contains NUL" rule):

    * an empty sample, or one starting with a Unicode BOM, is text;
    * a NUL byte in the first 512 bytes means binary;
    * otherwise binary when more than 10% of the sample is "suspicious": control bytes
      other than tab/newline/carriage-return/form-feed/escape/backspace, or bytes that are
      not valid UTF-8 (a sequence cut off at the end of the sample does not count).
    """
    data = sample[:_SAMPLE_BYTES]
    if not data:
        return False
    if data.startswith(_BOMS):
        return False
    if b"\x00" in data:
        return True
    suspicious = 0
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x20:
            if b not in (0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1B):
                suspicious += 1
            i += 1
            continue
        if b < 0x80:
            i += 1
            continue
        # A UTF-8 multi-byte sequence?
        if 0xC2 <= b <= 0xDF:
            length = 2
        elif 0xE0 <= b <= 0xEF:
            length = 3
        elif 0xF0 <= b <= 0xF4:
            length = 4
        else:
            suspicious += 1
            i += 1
            continue
        chunk = data[i : i + length]
        if len(chunk) < length and i + len(chunk) == n:
            break  # truncated by the sample boundary
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            suspicious += 1
            i += 1
            continue
        i += length
    return suspicious * 10 > n


def should_upload_as_lfs(path: str, size: int, sample: bytes, rules: LfsRules,
                         threshold: int = LFS_SIZE_THRESHOLD) -> bool:
    """The preupload decision for one file: True for `uploadMode: "lfs"`, False for `"regular"`.

    LFS when `.gitattributes` routes the path through the LFS filter, when the file is
    larger than 10 MiB (`LFS_SIZE_THRESHOLD`), or when its first bytes look binary
    (`looks_binary`). Empty files are always regular: git-lfs never stores them and the
    client uploads them as regular files anyway.
    """
    if size < 0:
        raise ValueError(f"File size must be >= 0, got {size} for {path!r}.")
    if size == 0:
        return False
    if rules.is_lfs(path):
        return True
    if size > threshold:
        return True
    return looks_binary(sample)
