"""Which paths are stored with Git LFS: the repo's `.gitattributes` plus the preupload policy.

* `default_gitattributes(repo_type)` is the `.gitattributes` the Hugging Face Hub commits
  into a new repository (models and spaces share one list; datasets add media and
  packed-data formats).
* `LfsRules.parse(text).is_lfs(path)` evaluates the `filter` attribute the way git does:
  the last line that matches the path and mentions `filter` wins; `filter=lfs` sets it,
  `-filter` unsets it, `!filter` makes it unspecified again.
* `should_upload_as_lfs(path, size, sample, rules)` is the answer the preupload endpoint
  gives (`uploadMode: "lfs"` or `"regular"`).

Pattern semantics are git's (see `gitignore.compile_wildmatch`), with the attribute-file
differences: `!pattern` lines are rejected by git and ignored here, and a pattern ending
in `/` never matches (attributes do not apply to directories; use `dir/**`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inhouse.services.gitignore import compile_wildmatch, normalize_repo_path

__all__ = [
    "DEFAULT_GITATTRIBUTES",
    "DATASET_GITATTRIBUTES",
    "LFS_SIZE_THRESHOLD",
    "LfsRules",
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

_REPO_TYPES = ("model", "dataset", "space")


def default_gitattributes(repo_type: str) -> str:
    """The initial `.gitattributes` for a new repo of `repo_type` ("model", "dataset", "space")."""
    if repo_type not in _REPO_TYPES:
        raise ValueError(f"Unknown repo type {repo_type!r}: expected one of {', '.join(_REPO_TYPES)}.")
    return DATASET_GITATTRIBUTES if repo_type == "dataset" else DEFAULT_GITATTRIBUTES


# --- parsing -------------------------------------------------------------------------

_UNSPECIFIED = object()  # the value of `!filter`


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    filter: object  # a str value, True (set), False (unset) or _UNSPECIFIED


# `name`, `-name`, `!name` or `name=value`; names are [-._A-Za-z0-9] and do not start with '-'.
_ATTR_RE = re.compile(r"\A[-!]?[A-Za-z0-9_.][-A-Za-z0-9_.]*(?:=.*)?\Z")

_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _split_pattern(line: str) -> tuple[str, str] | None:
    """Split an attributes line into (pattern, rest). Handles git's C-style quoted patterns."""
    if not line.startswith('"'):
        parts = line.split(None, 1)
        return parts[0], (parts[1] if len(parts) > 1 else "")
    out: list[str] = []
    i = 1
    while i < len(line):
        c = line[i]
        if c == '"':
            return "".join(out), line[i + 1 :]
        if c == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", line[i + 1 : i + 4]):
                # Octal byte escapes (git quotes non-ASCII this way); decode as UTF-8 below.
                out.append(chr(int(line[i + 1 : i + 4], 8)))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return None  # unterminated quote: git ignores the line


def _decode_octal_utf8(s: str) -> str:
    """Quoted patterns encode non-ASCII bytes as octal escapes; re-assemble them as UTF-8."""
    if all(ord(c) < 128 for c in s):
        return s
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


class LfsRules:
    """The LFS-relevant part of a `.gitattributes` file. Build it with `LfsRules.parse(text)`."""

    def __init__(self, rules: list[_Rule]):
        self._rules = rules

    @classmethod
    def parse(cls, text: str) -> LfsRules:
        rules: list[_Rule] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or line.startswith("[attr]"):
                continue
            split = _split_pattern(line)
            if split is None:
                continue
            pattern, rest = split
            if line.startswith('"'):
                pattern = _decode_octal_utf8(pattern)
            if pattern.startswith("!"):
                continue  # git: "Negative patterns are forbidden" -- the line is ignored
            if pattern.endswith("/"):
                continue  # never matches a file
            attrs = rest.split()
            if not all(_ATTR_RE.match(a) for a in attrs):
                continue  # git drops a line with an invalid attribute name (e.g. a space in the pattern)
            state: object = None
            for attr in attrs:
                if attr in ("filter", "-filter", "!filter"):
                    state = {"filter": True, "-filter": False, "!filter": _UNSPECIFIED}[attr]
                elif attr.startswith("filter="):
                    state = attr[len("filter=") :]
            if state is None:
                continue  # the line does not touch `filter`
            rules.append(_Rule(regex=compile_wildmatch(pattern), filter=state))
        return cls(rules)

    @classmethod
    def default(cls, repo_type: str = "model") -> LfsRules:
        return cls.parse(default_gitattributes(repo_type))

    def filter_of(self, path: str) -> str | bool | None:
        """The `filter` attribute of `path`: a value, True/False for set/unset, None if unspecified."""
        norm = normalize_repo_path(path)
        for rule in reversed(self._rules):
            if rule.regex.match(norm):
                return None if rule.filter is _UNSPECIFIED else rule.filter  # type: ignore[return-value]
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
