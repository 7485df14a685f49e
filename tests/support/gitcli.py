"""The real `git` (and `git-lfs`) binaries, run as a user would run them but isolated from this machine's setup:
a fresh HOME and no system or global config, no credential helper, no terminal prompt (a missing credential fails at
once instead of waiting for a password), English messages.

    git = Git(tmp_path)                      # its own HOME under tmp_path
    git.run("clone", git.url(server, repo_id, token), "dest")
    r = git.run("clone", url, "x", check=False)   # CompletedProcess: .returncode, .stdout, .stderr

The token travels as the HTTP Basic password in the URL (`http://user:TOKEN@host/…`), as the Hub accepts it, or in
a header (`extra_header(token)` → `-c http.extraHeader=Authorization: Bearer …`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from tests.support.live import LiveServer


def ensure_git_lfs() -> None:
    """git-lfs must be installed (CI installs it: .ci/run); installs the Debian package when it is missing."""
    if shutil.which("git-lfs") is None:
        install = ["apt-get", "install", "-y", "-q", "git-lfs"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:  # stale package lists
            subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
            subprocess.run(install, check=True, capture_output=True, env=env)
    assert shutil.which("git-lfs") is not None, "git-lfs is not installed and could not be installed"


def repo_url(server: LiveServer, repo_id: str, token: str | None = None, *, user: str = "user",
             repo_type: str = "model", suffix: str = ".git") -> str:
    """The clone URL of a repo (`/datasets/…` for a dataset), with the token as the Basic password when given."""
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    url = f"{server.url}/{prefix}{repo_id}{suffix}"
    if token is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(token, safe='')}@{parts.netloc}"))


def extra_header(token: str) -> list[str]:
    """`git -c …` arguments that send the token as a Bearer header instead of in the URL."""
    return ["-c", f"http.extraHeader=Authorization: Bearer {token}"]


class Git:
    """Runs git with a HOME of its own under `root`."""

    def __init__(self, root: Path, *, lfs: bool = False):
        self.home = root / "git-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "LANG": "C",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.com",
        }
        self.run("config", "--global", "init.defaultBranch", "main")
        self.run("config", "--global", "credential.helper", "")
        self.run("config", "--global", "protocol.version", "2")
        if lfs:
            ensure_git_lfs()
            self.run("lfs", "install", "--skip-repo")
        else:
            # a clone of a repo with LFS pointers stays a clone of pointers
            self.env["GIT_LFS_SKIP_SMUDGE"] = "1"

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["git", *args], cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def out(self, *args: str, cwd: Path | None = None) -> str:
        return self.run(*args, cwd=cwd).stdout.strip()
