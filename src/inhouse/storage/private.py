"""The data folder belongs to the service account alone: folders 0700, files 0600.

It holds private repos' files, token hashes, the audit log and the key that signs links. `inhouse` sets a umask
of 077 when it starts, so what it creates is private; `private_dir` makes the folder itself private and, when an
existing one was open to others (made by an older version, or by hand), takes their access away from everything
in it, once, and says so.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("inhouse")

OTHERS = 0o077  # group and world bits


def _tighten(path: Path, st: os.stat_result) -> bool:
    """Removes group and world access from one file or folder (never through a symbolic link)."""
    mode = stat.S_IMODE(st.st_mode)
    if not mode & OTHERS or stat.S_ISLNK(st.st_mode):
        return False
    os.chmod(path, mode & ~OTHERS)
    return True


def private_file(path: Path) -> None:
    """Creates `path` empty with mode 0600 when it does not exist; otherwise removes group and world access."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _tighten(path, path.lstat())
    else:
        os.close(fd)


def private_dir(path: Path) -> None:
    """Creates `path` (0700), or makes an existing one private: when others could enter it, everything below it
    loses group and world access (logged); otherwise only its direct files are checked (the folder already
    keeps others out of the rest, and a large folder is not walked at every start)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _tighten(path, path.lstat()):
        changed = 1
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                child = Path(root, name)
                try:
                    changed += _tighten(child, child.lstat())
                except FileNotFoundError:  # removed meanwhile (a temporary file)
                    pass
        log.warning("%s was open to other accounts on this machine; removed their access from it and %d "
                    "entries in it (inhouse keeps its data folder private: folders 0700, files 0600)",
                    path, changed - 1)
        return
    for child in path.iterdir():
        st = child.lstat()
        if stat.S_ISREG(st.st_mode):
            _tighten(child, st)


def secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of the secret kept at `path` (0600), made with `make` the first time. Processes starting
    together (a server and a CLI command on a new data folder) all get the same secret: each writes its own
    temporary file and links it into place, the first link wins, and the others read the winner's."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails when another process got there first: keep theirs
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()
