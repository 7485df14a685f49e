"""Validation of every name a user can send: repo ids, file paths, branch and tag names. One place."""

from __future__ import annotations

import re

from inhouse.errors import BadRequest, InvalidPath, InvalidRepoId

REPO_TYPES = ("model", "dataset", "space")
PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}
SINGULAR = {v: k for k, v in PLURAL.items()}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,96}$")
RESERVED_NAMESPACES = frozenset(
    {"api", "datasets", "spaces", "models", "kernels", "docs", "login", "logout", "join", "settings", "static",
     "new", "admin", "organizations", "ui", "cas", "-", "_"}
)
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_PATH_LEN = 1024


def check_repo_type(repo_type: str | None) -> str:
    t = repo_type or "model"
    if t not in REPO_TYPES:
        raise BadRequest(f"Invalid repo type '{t}': use one of {', '.join(REPO_TYPES)}.")
    return t


def check_name_part(part: str, what: str = "name") -> str:
    if (
        not _NAME.match(part)
        or "--" in part
        or ".." in part
        or part.startswith(("-", "."))
        or part.endswith((".git", "-", "."))
    ):
        raise InvalidRepoId(
            f"Invalid repo {what} '{part}': use 1-96 letters, digits, '-', '_' or '.', not starting or ending "
            "with '-' or '.', without '--' or '..', and not ending in '.git'."
        )
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
        raise InvalidRepoId(f"Invalid repo id '{repo_id}': expected 'namespace/name'.")
    return check_repo_id(parts[0], parts[1])


def check_path(path: str) -> str:
    """A file path inside a repo: relative, forward slashes, no '.', '..' or empty segments, no '.git'."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("Empty file path: give the path of the file inside the repo, e.g. 'config.json'.")
    if len(path) > MAX_PATH_LEN:
        raise InvalidPath(f"File path is longer than {MAX_PATH_LEN} characters.")
    if "\\" in path:
        raise InvalidPath(f"Invalid path '{path}': use forward slashes; backslashes are not allowed.")
    if path.startswith("/"):
        raise InvalidPath(f"Invalid path '{path}': paths are relative to the repo root; remove the leading '/'.")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise InvalidPath("Invalid path: control characters are not allowed in file names.")
    segments = path.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            raise InvalidPath(f"Invalid path '{path}': empty, '.' and '..' segments are not allowed.")
        if seg == ".git":
            raise InvalidPath(f"Invalid path '{path}': '.git' folders cannot be committed.")
    return path


def check_folder(path: str) -> str:
    return check_path(path.rstrip("/"))


def check_ref_name(name: str, what: str = "branch") -> str:
    """A branch or tag name, following git's check-ref-format rules."""
    if (
        not name
        or len(name) > 200
        or _BAD_REF_CHARS.search(name)
        or ".." in name
        or "//" in name
        or "@{" in name
        or name.startswith(("/", "-", "."))
        or name.endswith(("/", ".", ".lock"))
        or name == "@"
        or name.startswith("refs/")
        or "/." in name
    ):
        raise BadRequest(
            f"Invalid {what} name '{name}': use letters, digits, '-', '_', '.' and '/', without spaces, '..' or "
            "any of ~^:?*[\\."
        )
    return name


def is_commit_sha(rev: str) -> bool:
    return len(rev) == 40 and all(c in "0123456789abcdef" for c in rev)


def is_short_sha(rev: str) -> bool:
    return 7 <= len(rev) < 40 and all(c in "0123456789abcdef" for c in rev)
