import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.errors import PayloadTooLarge
from inhouse.services.gitignore import GitIgnore, normalize_repo_path
from inhouse.services.globs import MAX_PATTERN_BYTES, MAX_PATTERNS, GlobSet

# (gitignore text, path, ignored?)
CASES = [
    # the client's test_upload_folder_gitignore_* tests
    ("nested/*\n", "nested/file.bin", True),
    ("nested/*\n", "temp", False),
    ("nested/*\n", "other/nested/file.bin", False),  # middle slash: anchored at the root
    # basename patterns match at any depth
    ("*.txt\n", "a.txt", True),
    ("*.txt\n", "sub/b.txt", True),
    ("*.txt\n", "a.txt.bak", False),
    ("*.txt\n", "txt", False),
    ("foo\n", "foo", True),
    ("foo\n", "a/b/foo", True),
    ("foo\n", "foo/bar", True),  # foo matches the directory, so everything under it
    ("foo\n", "foobar", False),
    # directory patterns
    ("sub/\n", "sub/a.txt", True),
    ("sub/\n", "sub/deep/er/x", True),
    ("sub/\n", "sub", False),  # a file called sub is not a directory
    ("sub/\n", "a/sub/x", True),
    ("sub/\n", "subway/x", False),
    # anchoring
    ("/root.txt\n", "root.txt", True),
    ("/root.txt\n", "d/root.txt", False),
    ("doc/frotz\n", "doc/frotz", True),
    ("doc/frotz\n", "a/doc/frotz", False),
    ("/doc/frotz/\n", "doc/frotz/x", True),
    # ** forms
    ("**/foo\n", "foo", True),
    ("**/foo\n", "a/b/foo", True),
    ("**/foo/bar\n", "x/foo/bar", True),
    ("abc/**\n", "abc/x", True),
    ("abc/**\n", "abc/x/y", True),
    ("abc/**\n", "abc", False),
    ("a/**/b\n", "a/b", True),
    ("a/**/b\n", "a/x/b", True),
    ("a/**/b\n", "a/x/y/b", True),
    ("a/**/b\n", "a/xb", False),
    ("**\n", "anything/at/all", True),
    ("foo**bar\n", "fooXbar", True),  # not next to a slash: an ordinary *
    # * and ? do not cross /
    ("a*b\n", "axxb", True),
    ("a/*\n", "a/b/c", True),  # a/b matches a/*, so its content is ignored too
    ("a/*.txt\n", "a/b/c.txt", False),
    ("?.md\n", "x.md", True),
    ("?.md\n", "xy.md", False),
    # character classes
    ("[ab].txt\n", "a.txt", True),
    ("[ab].txt\n", "c.txt", False),
    ("[!ab].txt\n", "c.txt", True),
    ("[^ab].txt\n", "a.txt", False),
    ("[a-c]x\n", "bx", True),
    ("[a-c]x\n", "dx", False),
    ("file[[:digit:]]\n", "file7", True),
    ("file[[:digit:]]\n", "filex", False),
    ("[]]x\n", "]x", True),
    ("[unclosed\n", "[unclosed", False),  # an unterminated [ makes the pattern invalid
    ("\\[x\n", "[x", True),
    ("[[:x]\n", "x", True),  # no ":]" before "]": "[" is an ordinary member
    ("[[:x]\n", "[", True),
    ("[[:x]\n", "y", False),
    ("[[:bogus:]]\n", "b", False),  # malformed: matches nothing
    # negation: last match wins
    ("*.log\n!keep.log\n", "a.log", True),
    ("*.log\n!keep.log\n", "keep.log", False),
    ("*.log\n!keep.log\n", "d/keep.log", False),
    ("!keep.log\n*.log\n", "keep.log", True),
    # ... but an excluded directory cannot be re-entered
    ("build/\n!build/keep.txt\n", "build/keep.txt", True),
    ("/build/*\n!/build/keep.txt\n", "build/keep.txt", False),
    ("/build/*\n!/build/keep.txt\n", "build/other.txt", True),
    # comments, blank lines, escapes, trailing spaces
    ("# comment\n\n", "# comment", False),
    ("\\#hash\n", "#hash", True),
    ("\\!bang\n", "!bang", True),
    ("trail   \n", "trail", True),
    ("trail\\ \n", "trail ", True),
    ("trail\\ \n", "trail", False),
    ("\\*star\n", "*star", True),
    ("\\*star\n", "xstar", False),
    ("lone\\\n", "lone\\", False),  # a trailing backslash makes the pattern invalid
    ("crlf.txt\r\n", "crlf.txt", True),
    # nothing
    ("", "a", False),
    ("/\n", "a", False),
    ("!\n", "a", False),
    # where the regex-based matcher differed from git
    ("[^/]\n", "x", True),  # a '/' anywhere in the pattern, even in a class, anchors it
    ("[^/]\n", "dd/x", False),
    ("a\\/b\n", "a/b", True),  # so does an escaped one
    ("a\\/b\n", "d/a/b", False),
    ("?.md\n", "é.md", False),  # `?` and classes match one byte of UTF-8, not one character
    ("??.md\n", "é.md", True),
    ("[!a].txt\n", "é.txt", False),
    ("[z-ab]x\n", "bx", True),  # a reversed range is empty, the rest of the class still counts
    ("[z-ab]x\n", "yx", False),
    ("foo//\n", "foo/x", False),  # only one trailing '/' is dropped: `foo/` is left, and matches nothing
    ("keep\u2028more\n", "keep", False),  # lines end at '\n' only
    ("keep\u2028more\n", "keep\u2028more", True),
    ("\ufeffbom.txt\n", "bom.txt", True),  # a byte order mark is skipped
    ("/x**/y\n", "xy", True),  # git matches an anchored pattern's literal start on its own, so the
    ("/x**/y\n", "xa/b/y", True),  # `**` right after it counts as a leading `**/`
    ("/x**/y\n", "a/xy", False),
    ("*.log\n!/x**\n", "x/y/a.log", False),
    ("*.log\n!/x*\n", "x/y/a.log", True),
    ("**\\/x\n", "a/b/x", True),
    ("**\\/x\n", "x", False),
    ("a/**/**/**/b\n", "a/b", True),
    ("a/**/**/**/b\n", "a/x/y/z/b", True),
    ("a/**/**/**/b\n", "a/xb", False),
    ("[[:punct:]]x\n", "_x", True),
    ("[[:space:]]x\n", " x", True),
]


@pytest.mark.parametrize(("text", "path", "ignored"), CASES)
def test_gitignore_cases(text: str, path: str, ignored: bool) -> None:
    assert GitIgnore.parse(text).ignores(path) is ignored


def test_cases_agree_with_git(tmp_path: Path) -> None:
    """The table above is what real git does (via `git check-ignore --no-index`)."""
    disagreements = []
    for i, (text, path, ignored) in enumerate(CASES):
        repo = tmp_path / str(i)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".gitignore").write_text(text, newline="")
        result = subprocess.run(
            ["git", "-C", str(repo), "check-ignore", "-q", "--no-index", "--", path],
            capture_output=True,
        )
        git_says = result.returncode == 0
        if git_says != ignored:
            disagreements.append((text, path, git_says))
    assert disagreements == []


def test_directory_flag() -> None:
    gi = GitIgnore.parse("cache/\n")
    assert gi.ignores("cache", is_dir=True)
    assert gi.ignores("cache/")
    assert not gi.ignores("cache")


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("./a//b/", "a/b"), ("/a/b", "a/b"), ("a\\b", "a/b"), ("", ""), ("./", "")],
)
def test_normalize_repo_path(raw: str, norm: str) -> None:
    assert normalize_repo_path(raw) == norm


def test_leading_slash_and_dot_in_path_are_normalised() -> None:
    gi = GitIgnore.parse("/a.txt\n")
    assert gi.ignores("./a.txt")
    assert gi.ignores("/a.txt")


def test_empty_path_is_never_ignored() -> None:
    assert not GitIgnore.parse("*\n").ignores("")


_names = st.text(alphabet="ab.x-_ ", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
_paths = st.lists(_names, min_size=1, max_size=4).map("/".join)


@given(_paths)
def test_star_ignores_everything(path: str) -> None:
    assert GitIgnore.parse("*\n").ignores(path)


@given(_paths)
def test_negating_everything_ignores_nothing(path: str) -> None:
    assert not GitIgnore.parse("*\n!*\n").ignores(path)


@given(st.text(max_size=40), _paths)
def test_never_crashes(text: str, path: str) -> None:
    GitIgnore.parse(text).ignores(path)
    GlobSet([text]).matches("a/b")


@given(_paths)
def test_literal_pattern_matches_itself(path: str) -> None:
    pattern = "/" + "".join("\\" + c if c in "*?[\\!# " else c for c in path)
    assert GitIgnore.parse(pattern + "\n").ignores(path)


def test_pattern_caps_count_patterns_not_comments() -> None:
    assert GitIgnore.parse("# a comment\n\n" * 50_000 + "*.log\n").ignores("a.log")
    GitIgnore.parse("x\n" * MAX_PATTERNS)
    with pytest.raises(PayloadTooLarge, match=f"The request's gitIgnore has {MAX_PATTERNS + 1} patterns"):
        GitIgnore.parse("x\n" * (MAX_PATTERNS + 1), what="The request's gitIgnore")
    with pytest.raises(PayloadTooLarge, match="at most"):
        GitIgnore.parse(("y" * 1000 + "\n") * (MAX_PATTERN_BYTES // 1000 + 1))


# --- agreement with git on random patterns and paths ---------------------------------

_ATOMS = [
    "a", "b", "x", "/", "*", "**", "?", "[", "]", "!", "^", "-", "\\", ":", "é", " ", "#", ".",
    "[:alpha:]", "[!a]", "[a-c]", "\\/", "\\*", "[]-]", "[^/]",
]  # fmt: skip
_COMPONENTS = ["a", "b", "ab", "ba", "bab", "x", "a.b", "a b", "[", "*", "?", "!", "#", "^", "-", "é", "x:"]
_patterns = st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=6).map("".join)
_lines = st.tuples(st.booleans(), _patterns, st.booleans()).map(
    lambda t: ("!" if t[0] else "") + t[1] + ("/" if t[2] else "")
)
_texts = st.lists(_lines, min_size=1, max_size=3).map(lambda lines: "\n".join(lines) + "\n")
_repo_paths = st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=4).map("/".join)


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("gitignore")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def git_ignored(repo: Path, text: str, paths: list[str]) -> set[str]:
    """The paths `git check-ignore --no-index` says `text` ignores."""
    (repo / ".gitignore").write_text(text, encoding="utf-8", newline="")
    result = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z"],
        input="\0".join(paths).encode() + b"\0",
        capture_output=True,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: nothing ignored
    return {p.decode() for p in result.stdout.split(b"\0") if p}


@settings(max_examples=80, deadline=None)
@given(_texts, st.lists(_repo_paths, min_size=1, max_size=20, unique=True))
def test_random_patterns_agree_with_git(git_repo: Path, text: str, paths: list[str]) -> None:
    gi = GitIgnore.parse(text)
    assert {p for p in paths if gi.ignores(p)} == git_ignored(git_repo, text, paths)
