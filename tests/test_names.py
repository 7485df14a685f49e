"""names.py: the one place that says which repo names, file paths and ref names are accepted (issue 7, finding 11)."""

from __future__ import annotations

import unicodedata

import pytest

from inhouse.errors import BadRequest, InvalidPath, InvalidRepoId
from inhouse.names import (
    check_existing_path,
    check_name_part,
    check_path,
    check_ref_name,
    check_revision,
    is_git_dir_name,
    mixed_scripts,
    shown,
    unsafe_char,
)

# git's verify_path / is_ntfs_dotgit / is_hfs_dotgit refuse these, or Windows and macOS read them as '.git'
GIT_DIRS = [
    ".git", ".GIT", ".Git", ".gIt", ".git.", ".git..", ".git ", ".git . .", "git~1", "GIT~1", "Git~1.", "git~1 ",
    ".git:", ".git::$INDEX_ALLOCATION", ".git:$DATA", "git~1::$INDEX_ALLOCATION", ".GIT. :stream",
    ".g\u200cit", ".\u200dgit", ".gi\u200et", ".git\u200f", "\u202a.git", ".g\u206ait", ".gi\ufefft",
    ".G\u202eIT",
]
NOT_GIT_DIRS = [
    ".gitignore", ".gitattributes", ".gitmodules", ".git-x", ".gitx", ".git.x", ".git x", "git", "git~2", "git~10",
    "git~1x", "x.git", "a.git.", "_git", "..git", "gi t", "\u0261it",
]


@pytest.mark.parametrize("segment", GIT_DIRS)
def test_what_git_takes_for_its_own_folder(segment: str) -> None:
    assert is_git_dir_name(segment)
    for path in (segment, f"{segment}/config", f"a/{segment}/hooks/post-checkout", f"{segment}/"):
        with pytest.raises(InvalidPath):
            check_path(path.rstrip("/") if path.endswith("/") else path)


@pytest.mark.parametrize("segment", NOT_GIT_DIRS)
def test_names_that_only_look_close_to_git(segment: str) -> None:
    assert not is_git_dir_name(segment)


@pytest.mark.parametrize("path", [
    "config.json", ".gitattributes", "sub/dir/model.safetensors", "a b/c d.txt", "données/été.csv", "资料/模型.bin",
    "モデル/設定ファイル.json", "modèle_名前.bin", "한국어/파일.txt", "Ελληνικά/αρχείο.txt", "русский/файл.txt",
    "emoji-🤗.md", "x" * 1024, "-dash", "~tilde", "a:b", "½-size.bin", "°C.txt", "µ-model.bin", "файл.txt",
])
def test_ordinary_names_are_accepted(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize("path,problem", [
    ("a\x00b", "U+0000"), ("a\x1fb", "U+001F"), ("a\x7fb", "U+007F"), ("a\x85b", "U+0085"), ("a\x9fb", "U+009F"),
    ("evil\u202eexe.txt", "RIGHT-TO-LEFT OVERRIDE"), ("a\u202ab", "LEFT-TO-RIGHT EMBEDDING"),
    ("a\u2066b", "LEFT-TO-RIGHT ISOLATE"), ("a\u2069b", "POP DIRECTIONAL ISOLATE"), ("a\u200eb", "LEFT-TO-RIGHT MARK"),
    ("a\u200fb", "RIGHT-TO-LEFT MARK"), ("a\u200bb", "ZERO WIDTH SPACE"), ("a\ufeffb", "ZERO WIDTH NO-BREAK SPACE"),
    ("a\u00adb", "SOFT HYPHEN"), ("a\u2028b", "LINE SEPARATOR"), ("a\u00a0b", "NO-BREAK SPACE"),
    ("a\u3164b", "HANGUL FILLER"), ("a\ufe0fb", "VARIATION SELECTOR-16"), ("a\ue000b", "U+E000"),
    ("a\U000e0041b", "TAG LATIN CAPITAL LETTER A"), ("a\ud800b", "U+D800"), ("a\u0378b", "U+0378"),
    ("a\u2800b", "BRAILLE PATTERN BLANK"),
])
def test_invisible_and_control_characters_are_refused_by_name(path: str, problem: str) -> None:
    with pytest.raises(InvalidPath) as e:
        check_path(path)
    assert problem in e.value.message
    assert path not in e.value.message or path.isprintable()  # echoed with the character escaped, never raw
    assert "\\u" in e.value.message


@pytest.mark.parametrize("path,problem", [
    ("\uff43onfig.json", "looks like 'c'"), ("model\u2215config.json", "looks like '/'"),
    ("a\u2044b", "looks like '/'"), ("a\u2216b", "looks like '\\'"), ("\U0001d41cfg.txt", "looks like 'c'"),
    ("\ufb01le.txt", "looks like 'fi'"), ("x\u00b2.bin", "looks like '2'"), ("\u2160.txt", "looks like 'I'"),
    ("m\u043edel.bin", "mixes Latin and Cyrillic"), ("\u0440aypal/x", "mixes Latin and Cyrillic"),
    ("sub/\u03bfpenai.txt", "mixes Latin and Greek"), ("l\u0456nux.txt", "mixes Latin and Cyrillic"),
    ("\u0430\u03b2.txt", "mixes Cyrillic and Greek"), ("\u00b5model.bin", "mixes Latin and Greek"),
    ("\u1e3f\u043e\u0301del.txt", "mixes Latin and Cyrillic"),  # marks do not split a word
])
def test_look_alikes_are_refused(path: str, problem: str) -> None:
    with pytest.raises(InvalidPath) as e:
        check_path(path)
    assert problem in e.value.message


def test_paths_must_be_nfc_and_are_not_rewritten() -> None:
    nfd = unicodedata.normalize("NFD", "données/été.csv")
    assert nfd != "données/été.csv"
    with pytest.raises(InvalidPath, match="NFC"):
        check_path(nfd)
    assert check_path(unicodedata.normalize("NFC", nfd)) == "données/été.csv"


@pytest.mark.parametrize("path", ["", "/a", "a//b", "a/./b", "a/../b", "..", "a\\b", "x" * 1025, "a/"])
def test_structure_rules_still_hold(path: str) -> None:
    with pytest.raises(InvalidPath):
        check_path(path)


@pytest.mark.parametrize("name", [
    "a--b", "..", "x.git", "x.GIT", "x.Git", "a" * 97, "modèle", "名前", "", "-a", "a-", ".a", "a.", "a b", "a/b",
    "abc\n", "abc\r\n", "a\u202eb", "\uff4dodel", "a\x00", "m\u043edel",
])
def test_repo_names_follow_the_hubs_rule(name: str) -> None:
    with pytest.raises(InvalidRepoId):
        check_name_part(name)


@pytest.mark.parametrize("name,problem", [
    ("a\u202eb", "RIGHT-TO-LEFT OVERRIDE"), ("abc\n", "control character"), ("mod\u00e8le", "non-ASCII"),
    ("m\u043edel", "CYRILLIC SMALL LETTER O"),
])
def test_repo_name_errors_name_the_character(name: str, problem: str) -> None:
    with pytest.raises(InvalidRepoId) as e:
        check_name_part(name)
    assert problem in e.value.message and "U+" in e.value.message


@pytest.mark.parametrize("name", ["a", "a" * 96, "Foo-BAR_foo.bar123", "123", "a.b-c_d", "gpt2"])
def test_valid_repo_names(name: str) -> None:
    assert check_name_part(name) == name


@pytest.mark.parametrize("name", ["a\u202eb", "a\x00", "a\u200bb", "x.lock/y", "a/b.lock", "\ud800"])
def test_ref_names_refuse_invisible_characters_and_lock_components(name: str) -> None:
    with pytest.raises(BadRequest):
        check_ref_name(name)


def test_revisions_refuse_only_what_no_ref_can_hold() -> None:
    assert check_revision("refs/pr/1") == "refs/pr/1"
    assert check_revision("Ω-branch") == "Ω-branch"
    assert check_revision("refs/heads/" + "b" * 200) == "refs/heads/" + "b" * 200  # the longest branch
    for bad in ("main\x00", "a\ud800", "x" * 256):
        with pytest.raises(BadRequest):
            check_revision(bad)


def test_helpers() -> None:
    assert unsafe_char(" ") is None and unsafe_char("é") is None and unsafe_char("\u202e")
    assert shown("a\u202eb\x00") == "a\\u202eb\\u0000"
    assert mixed_scripts("资料モデルmodel한국") is None  # Latin with the East Asian scripts is fine
    assert mixed_scripts("model") is None and mixed_scripts("модель") is None


def test_labels_people_read_are_bounded_and_visible() -> None:
    from inhouse.names import check_label

    assert check_label("Acme Research – Zürich 研究所", "full name") == "Acme Research – Zürich 研究所"
    for bad in ("x" * 201, "ci\u202etoken", "a\x00", "a\u200bb"):
        with pytest.raises(BadRequest):
            check_label(bad, "token name")


def test_each_code_point_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a character is gets computed once per code point and kept, so a path costs a lookup per distinct
    character however often it is sent (the cost of checking a commit follows its size, not its alphabet)."""
    import inhouse.names as names

    calls: list[str] = []
    real = names._classify
    monkeypatch.setattr(names, "_classify", lambda c: calls.append(c) or real(c))
    path = "".join(chr(cp) for cp in range(0x4E00, 0x4E00 + 500)) + "/" + "模型" * 200
    check_path(path)
    first = len(calls)
    assert first <= len(set(path))
    check_path(path)
    check_path(path)
    assert len(calls) == first


@pytest.mark.parametrize("path", ["..", "a/../b", "/etc/passwd", "a\\b", "a//b", "./a", "", "/", "a\x00b", "x" * 1025])
def test_a_deletion_refuses_paths_of_the_wrong_shape(path: str) -> None:
    with pytest.raises(InvalidPath):
        check_existing_path(path)


@pytest.mark.parametrize("path", [".GIT/config", "evil\u202etxt.exe", "e\u0301t\u00e9.txt", "old/", "a/b.txt"])
def test_a_deletion_takes_names_the_naming_rules_refuse_now(path: str) -> None:
    assert check_existing_path(path) == path
