import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.errors import PayloadTooLarge

from inhouse.services.gitattributes import (
    DATASET_GITATTRIBUTES,
    DEFAULT_GITATTRIBUTES,
    LFS_SIZE_THRESHOLD,
    LfsRules,
    default_gitattributes,
    looks_binary,
    should_upload_as_lfs,
)
from inhouse.services.globs import MAX_PATTERNS
from inhouse.vocabulary import RepoType

MODEL_RULES = LfsRules.parse(DEFAULT_GITATTRIBUTES)
DATASET_RULES = LfsRules.parse(DATASET_GITATTRIBUTES)


def test_default_file_format() -> None:
    lines = DEFAULT_GITATTRIBUTES.splitlines()
    assert lines[0] == "*.7z filter=lfs diff=lfs merge=lfs -text"
    assert lines[-1] == "*tfevents* filter=lfs diff=lfs merge=lfs -text"
    assert "saved_model/**/* filter=lfs diff=lfs merge=lfs -text" in lines
    assert DEFAULT_GITATTRIBUTES.endswith("\n")
    assert all(line.endswith(" filter=lfs diff=lfs merge=lfs -text") for line in lines)


def test_default_gitattributes_by_repo_type() -> None:
    assert default_gitattributes(RepoType.MODEL) == DEFAULT_GITATTRIBUTES
    assert default_gitattributes(RepoType.SPACE) == DEFAULT_GITATTRIBUTES
    assert default_gitattributes(RepoType.DATASET) == DATASET_GITATTRIBUTES
    assert DATASET_GITATTRIBUTES.startswith("*.7z ")
    assert "# Video files - compressed\n*.mp4 " in DATASET_GITATTRIBUTES


MODEL_PATTERN_EXTS = (
    "7z arrow bin bz2 ckpt ftz gz h5 joblib mlmodel model msgpack npy npz onnx ot parquet pb "
    "pickle pkl pt pth rar safetensors tar tflite tgz wasm xz zip zst"
).split()


@pytest.mark.parametrize("ext", MODEL_PATTERN_EXTS)
def test_model_defaults_cover_weight_and_archive_formats(ext: str) -> None:
    assert MODEL_RULES.is_lfs(f"weights.{ext}")
    assert MODEL_RULES.is_lfs(f"deep/er/weights.{ext}")
    assert DATASET_RULES.is_lfs(f"weights.{ext}")


@pytest.mark.parametrize(
    ("path", "model", "dataset"),
    [
        ("pytorch_model.bin", True, True),
        ("nested/file.bin", True, True),
        ("model.safetensors", True, True),
        ("data.tar.gz", True, True),  # *.tar.* and *.gz
        ("x.lfs.json", True, True),  # *.lfs.*
        ("runs/events.out.tfevents.1700000000.host", True, True),  # *tfevents*
        ("saved_model/variables/variables.index", True, True),  # saved_model/**/*
        ("saved_model/saved_model.pb", True, True),
        ("sub/saved_model/x/y", False, False),  # saved_model/**/* is anchored at the root
        ("README.md", False, False),
        ("config.json", False, False),
        ("tokenizer.json", False, False),
        ("file.txt", False, False),
        ("binary", False, False),
        ("image.png", False, True),
        ("audio/clip.wav", False, True),
        ("clip.mp3", False, True),
        ("photo.jpeg", False, True),
        ("video.mp4", False, True),
        ("shard.00056.mds", False, True),
        ("data.lz4", False, True),
        ("image.PNG", False, False),  # case-sensitive, like git on Linux
    ],
)
def test_default_rules(path: str, model: bool, dataset: bool) -> None:
    assert MODEL_RULES.is_lfs(path) is model
    assert DATASET_RULES.is_lfs(path) is dataset


# (.gitattributes text, path, is LFS?)
ATTR_CASES = [
    ("*.png filter=lfs diff=lfs merge=lfs -text\n", "image.png", True),
    ("*.png filter=lfs diff=lfs merge=lfs -text\n", "a/b/image.png", True),
    ("*.png filter=lfs\n", "image.jpg", False),
    ("/top.bin filter=lfs\n", "top.bin", True),
    ("/top.bin filter=lfs\n", "d/top.bin", False),
    ("data/*.csv filter=lfs\n", "data/x.csv", True),
    ("data/*.csv filter=lfs\n", "data/sub/x.csv", False),
    ("data/** filter=lfs\n", "data/sub/x.csv", True),
    ("data/**/*.csv filter=lfs\n", "data/x.csv", True),
    ("data/**/*.csv filter=lfs\n", "data/a/b/x.csv", True),
    ("**/big/* filter=lfs\n", "a/big/x", True),
    ("data/ filter=lfs\n", "data/x.csv", False),  # directory patterns do not apply to files
    # later lines win; lines that do not mention `filter` do not change it
    ("*.bin filter=lfs\nspecial.bin -filter\n", "special.bin", False),
    ("*.bin filter=lfs\nspecial.bin -filter\n", "other.bin", True),
    ("*.bin filter=lfs\nspecial.bin !filter\n", "special.bin", False),
    ("*.bin -filter\n*.bin filter=lfs\n", "x.bin", True),
    ("*.bin filter=lfs\n*.bin -text\n", "x.bin", True),
    ("*.bin filter=lfs\n*.bin binary\n", "x.bin", True),
    ("*.bin filter=other\n", "x.bin", False),
    ("*.bin filter\n", "x.bin", False),
    ("*.bin filter=lfs\n*.bin filter=other\n", "x.bin", False),
    # comments, blank lines, macros, negative patterns, invalid attribute names
    ("# *.bin filter=lfs\n\n", "x.bin", False),
    ("[attr]mylfs filter=lfs\n", "x.bin", False),
    ("!*.bin filter=lfs\n", "x.bin", False),  # git rejects negative patterns
    ("a b filter=lfs\n", "a", True),  # pattern `a`, attributes `b` and `filter=lfs`
    ("x y/z filter=lfs\n", "x", False),  # `y/z` is not a valid attribute name: the line is dropped
    ("   *.bin    filter=lfs   \n", "x.bin", True),
    ('"with space.bin" filter=lfs\n', "with space.bin", True),
    ('"caf\\303\\251.bin" filter=lfs\n', "café.bin", True),
    ("*.bin filter=lfs\r\n", "x.bin", True),
    # where the regex-based parser and matcher differed from git
    ("/data** filter=lfs\n", "data/x/y.bin", True),  # git matches the literal start on its own
    ("data** filter=lfs\n", "data/x/y.bin", False),  # (only for anchored patterns)
    ("?.bin filter=lfs\n", "é.bin", False),  # `?` matches one byte of UTF-8
    ("*.bin filter=lfs\n*.bin -filter=lfs\n", "x.bin", False),  # `-name=value` unsets
    ('"abc filter=lfs\n', '"abc', True),  # a quote git cannot parse is part of the pattern
    ('"q\\x.bin" filter=lfs\n', '"qx.bin"', True),  # so is one with an unknown escape
    ('"a"filter=lfs\n', "a", True),
    ("a\x0bb filter=lfs\n", "b", False),  # only space, tab and CR separate
    ("[attr] filter=lfs\n", "t", True),  # `[attr]` alone is a pattern (a class), not a macro
    ("*.bin filter=lfs " + "diff=lfs " * 250 + "\n", "x.bin", False),  # lines of 2048 bytes or more are ignored
    ("\ufeff*.bin filter=lfs\n", "x.bin", True),  # a byte order mark is skipped
    # macros: `[attr]name attrs` expands where `name` is set, and the last definition wins
    ("[attr]big filter=lfs\n*.dat big\n", "x.dat", True),
    ("*.dat big\n[attr]big filter=lfs\n", "x.dat", True),
    ("[attr]big filter=lfs\n[attr]big -filter\n*.dat big\n", "x.dat", False),
    ("[attr]big filter=lfs\n*.dat big\n*.dat -big\n", "x.dat", False),  # unset later: no expansion
    ("[attr]a b\n[attr]b a filter=lfs\n*.dat a\n", "x.dat", True),  # nested, and a cycle
    ("[attr]big filter=lfs\n*.dat filter=other big\n", "x.dat", True),  # a line is read from its end
    ("[attr]big filter=lfs\n*.dat big filter=other\n", "x.dat", False),
    ("[attr]big -filter\n*.dat filter=lfs big\n", "x.dat", False),
]


@pytest.mark.parametrize(("text", "path", "lfs"), ATTR_CASES)
def test_lfs_rules(text: str, path: str, lfs: bool) -> None:
    assert LfsRules.parse(text).is_lfs(path) is lfs


def test_attr_cases_agree_with_git(tmp_path: Path) -> None:
    """The table above is what `git check-attr filter` says."""
    disagreements = []
    for i, (text, path, lfs) in enumerate(ATTR_CASES):
        repo = tmp_path / str(i)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".gitattributes").write_text(text, encoding="utf-8", newline="")
        out = subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotepath=false", "check-attr", "-z", "filter", "--", path],
            capture_output=True,
            check=True,
        ).stdout.decode()
        value = out.split("\0")[2]
        if (value == "lfs") != lfs:
            disagreements.append((text, path, value))
    assert disagreements == []


@pytest.mark.parametrize("repo_type", [RepoType.MODEL, RepoType.DATASET])
def test_defaults_agree_with_git(tmp_path: Path, repo_type: RepoType) -> None:
    text = default_gitattributes(repo_type)
    rules = LfsRules.parse(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitattributes").write_text(text)
    paths = [
        "a.bin", "x/y.safetensors", "saved_model/a/b", "saved_model/a", "q/saved_model/a/b",
        "events.tfevents.1", "a.tar.gz", "a.tar", "README.md", "a.png", "d/a.jpg", "a.mds",
        "x.lfs.y", "notes.txt", "a.PNG", "model", "a.model",
    ]  # fmt: skip
    out = subprocess.run(
        ["git", "-C", str(tmp_path), "check-attr", "-z", "filter", "--", *paths], capture_output=True, check=True
    ).stdout.decode()
    fields = out.split("\0")
    git = {fields[i]: fields[i + 2] == "lfs" for i in range(0, len(fields) - 2, 3)}
    assert git == {p: rules.is_lfs(p) for p in paths}


def test_filter_of_reports_the_raw_state() -> None:
    rules = LfsRules.parse("a filter=lfs\nb -filter\nc filter\nd !filter\n")
    assert rules.filter_of("a") == "lfs"
    assert rules.filter_of("b") is False
    assert rules.filter_of("c") is True
    assert rules.filter_of("d") is None
    assert rules.filter_of("e") is None


def test_paths_are_normalised() -> None:
    assert MODEL_RULES.is_lfs("./a/b.bin")
    assert MODEL_RULES.is_lfs("/a.bin")


# --- binary detection and the preupload policy ---------------------------------------

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.mark.parametrize(
    ("sample", "binary"),
    [
        (b"", False),
        (b"Content of the file", False),
        (b"content", False),
        ("héllo wörld ✓ 你好".encode(), False),
        ("你好".encode() * 100, False),
        ("é".encode()[:1], False),  # a UTF-8 sequence cut by the sample boundary
        (b"a" * 511 + "é".encode(), False),
        (b"line\r\n\tindented\x1b[0m\x0c", False),
        (b"\xef\xbb\xbfBOM text", False),
        ("utf-16 text".encode("utf-16"), False),  # starts with a BOM despite its NUL bytes
        (b"abc\x00def", True),
        (PNG_HEADER, True),
        (bytes(range(256)) * 2, True),
        (b"\x80\x81\x82\x83 mostly junk \xff\xfe\xfd\xfc\xfb\xfa", True),
        (b"plain ascii text with one stray byte \xff in it, long enough to stay under ten percent", False),
    ],
)
def test_looks_binary(sample: bytes, binary: bool) -> None:
    assert looks_binary(sample) is binary


def test_looks_binary_only_reads_the_first_512_bytes() -> None:
    assert not looks_binary(b"a" * 512 + b"\x00")


@pytest.mark.parametrize(
    ("path", "size", "sample", "lfs"),
    [
        # the client's test_hf_api expectations
        ("lfs.bin", 7, b"content", True),
        ("lfs.pkl", 12, b"File content", True),
        ("file-1.bin", 2057, b"Hello LFS" + b"a" * 2048, True),
        ("file.txt", 7, b"content", False),
        ("temp/new_file.md", 19, b"Content of the file", False),
        ("README.md", 100, b"---\nlicense: mit\n---\n", False),
        ("nested/file.bin", 1024 * 1024, b"\x00" * 512, True),
        ("empty.pkl", 0, b"", False),  # empty files are never LFS
        # size threshold
        ("big.txt", LFS_SIZE_THRESHOLD, b"text", False),
        ("big.txt", LFS_SIZE_THRESHOLD + 1, b"text", True),
        # binary content without a matching pattern
        ("brand_new_file", 50_000, PNG_HEADER, True),
        ("data.csv", 1000, b"a,b\n1,2\n", False),
    ],
)
def test_should_upload_as_lfs(path: str, size: int, sample: bytes, lfs: bool) -> None:
    assert should_upload_as_lfs(path, size, sample, MODEL_RULES) is lfs


def test_should_upload_as_lfs_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match="size must be >= 0"):
        should_upload_as_lfs("a.txt", -1, b"", MODEL_RULES)


@given(st.text(max_size=300))
def test_utf8_text_is_never_binary(text: str) -> None:
    data = text.replace("\x00", "").encode()
    # Control characters other than whitespace/escape count against a text file.
    controls = sum(1 for c in text[:512] if ord(c) < 32 and c not in "\b\t\n\f\r\x1b" or c == "\x7f")
    if controls == 0:
        assert not looks_binary(data)


@given(st.text(max_size=80))
def test_parse_never_crashes(text: str) -> None:
    LfsRules.parse(text).is_lfs("a/b.bin")


def test_pattern_caps_count_only_what_decides_filter() -> None:
    other = "".join(f"*.x{i} text eol=lf\n" for i in range(5 * MAX_PATTERNS))  # lines without `filter` are free
    assert LfsRules.parse(other + "*.bin filter=lfs\n").is_lfs("a.bin")
    LfsRules.parse("*.bin filter=lfs\n" * MAX_PATTERNS)
    with pytest.raises(PayloadTooLarge, match=f"The .gitattributes at 'main' sets `filter`.* {MAX_PATTERNS + 1} times"):
        LfsRules.parse("*.bin filter=lfs\n" * (MAX_PATTERNS + 1), what="The .gitattributes at 'main'")
    with pytest.raises(PayloadTooLarge, match="times"):  # macros count where they can set it
        LfsRules.parse("[attr]m filter=lfs\n" + "*.bin m\n" * MAX_PATTERNS)


# --- agreement with git on random lines and paths ------------------------------------

_ATOMS = [
    "a", "b", "x", "/", "*", "**", "?", "[", "]", "^", "-", "\\", "é", "#", ".",
    "[:alpha:]", "[!a]", "[a-c]", "\\/", "[]-]",
]  # fmt: skip
_COMPONENTS = ["a", "b", "ab", "ba", "x", "a.b", "[", "*", "?", "-", "é", "#"]
_STATES = ["filter=lfs", "-filter", "!filter", "filter=other", "filter", "big", "-big", "text"]
_patterns = st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=6).map("".join)
_lines = st.tuples(_patterns, st.lists(st.sampled_from(_STATES), min_size=1, max_size=3)).map(
    lambda t: t[0] + " " + " ".join(t[1])
)
_texts = st.tuples(st.sampled_from(["", "[attr]big filter=lfs\n", "[attr]big -filter\n"]),
                   st.lists(_lines, min_size=1, max_size=3)).map(lambda t: t[0] + "".join(f"{x}\n" for x in t[1]))
_repo_paths = st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=4).map("/".join)
_GIT_STATE: dict[str, str | bool | None] = {"set": True, "unset": False, "unspecified": None}


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("gitattributes")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def git_filters(repo: Path, text: str, paths: list[str]) -> dict[str, str | bool | None]:
    """What `git check-attr filter` says of each path under `text`."""
    (repo / ".gitattributes").write_text(text, encoding="utf-8", newline="")
    out = subprocess.run(
        ["git", "-C", str(repo), "check-attr", "--stdin", "-z", "filter"],
        input="\0".join(paths).encode() + b"\0",
        capture_output=True,
        check=True,
    ).stdout.decode()
    fields = out.split("\0")
    return {fields[i]: _GIT_STATE.get(fields[i + 2], fields[i + 2]) for i in range(0, len(fields) - 2, 3)}


@settings(max_examples=80, deadline=None)
@given(_texts, st.lists(_repo_paths, min_size=1, max_size=20, unique=True))
def test_random_lines_agree_with_git(git_repo: Path, text: str, paths: list[str]) -> None:
    rules = LfsRules.parse(text)
    assert {p: rules.filter_of(p) for p in paths} == git_filters(git_repo, text, paths)
