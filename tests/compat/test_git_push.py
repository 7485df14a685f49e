"""git push with the real git and git-lfs against a live server: new commits with LFS files read back identically
through hf_hub_download (and an API upload through git clone), refusals come out as git's own rejection lines
with nothing moved, a push racing API commits loses none of them, and read tokens or anonymous callers cannot
push."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download
from sqlalchemy import func, select

from inhouse.storage.db.schema import audit_log, git_objects, refs, repo_commits, repos

from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer


def clone(git: Git, server: LiveServer, repo_id: str, token: str, dest: Path) -> Path:
    git.run("clone", "-q", repo_url(server, repo_id, token), str(dest))
    return dest


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_push_with_lfs_files_reads_back_through_hf_hub_download(server: LiveServer, tmp_path: Path):
    repo_id, token = server.make_repo()
    git = Git(tmp_path, lfs=True)
    work = clone(git, server, repo_id, token, tmp_path / "work")
    git.run("lfs", "track", "*.bin", cwd=work)
    weights, text = os.urandom(300_000), "# Model\n\nPushed with git.\n".encode()
    write(work / "weights" / "model.bin", weights)
    write(work / "README.md", text)
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "weights and card", cwd=work)
    pushed = git.out("rev-parse", "HEAD", cwd=work)
    r = git.run("push", "origin", "main", cwd=work)
    assert "main -> main" in r.stderr
    api = server.api(token)
    assert api.repo_info(repo_id).sha == pushed
    for name, data in (("weights/model.bin", weights), ("README.md", text)):
        path = hf_hub_download(repo_id, name, endpoint=server.url, token=token, cache_dir=tmp_path / "hf")
        assert Path(path).read_bytes() == data, name
    [info] = api.get_paths_info(repo_id, ["weights/model.bin"])
    assert info.lfs is not None and info.lfs.size == len(weights)
    assert [c.commit_id for c in api.list_repo_commits(repo_id)][0] == pushed
    # a second clone (with git-lfs) gets the real bytes back
    again = clone(git, server, repo_id, token, tmp_path / "again")
    assert (again / "weights" / "model.bin").read_bytes() == weights


def test_api_upload_reads_back_through_git_clone(server: LiveServer, tmp_path: Path, lfs_only: None):
    repo_id, token = server.make_repo()
    api = server.api(token)
    big, small = os.urandom(12 * 1024 * 1024 + 5), b"small file\n"
    api.upload_file(path_or_fileobj=big, path_in_repo="data/big.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=small, path_in_repo="notes.txt", repo_id=repo_id)
    work = clone(Git(tmp_path, lfs=True), server, repo_id, token, tmp_path / "work")
    assert (work / "data" / "big.bin").read_bytes() == big
    assert (work / "notes.txt").read_bytes() == small


def test_refused_pushes_show_gits_rejection_and_move_nothing(server: LiveServer, tmp_path: Path):
    repo_id, token = server.make_repo()
    api = server.api(token)
    git = Git(tmp_path)
    work = clone(git, server, repo_id, token, tmp_path / "work")
    head = api.repo_info(repo_id).sha
    # a rewritten default branch, forced
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work)
    r = git.run("push", "--force", "origin", "main", cwd=work, check=False)
    assert r.returncode != 0
    assert "! [remote rejected] main -> main (non-fast-forward)" in r.stderr
    assert "remote: main is the protected default branch" in r.stderr
    # deleting the default branch
    r = git.run("push", "origin", ":main", cwd=work, check=False)
    assert "! [remote rejected] main (deletion of the current branch prohibited)" in r.stderr
    # pull request and other refs are not pushed to; the whole push fails (nothing of it lands)
    git.run("reset", "-q", "--hard", "origin/main", cwd=work)
    write(work / "a.txt", b"a\n")
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "a", cwd=work)
    r = git.run("push", "origin", "main", "main:refs/pr/1", "main:refs/notes/x", cwd=work, check=False)
    assert "! [remote rejected] main -> refs/pr/1 (refs/pr/* is created by opening a pull request)" in r.stderr
    assert "! [remote rejected] main -> refs/notes/x (only refs/heads/*, refs/tags/* and refs/pr/* may be pushed)" \
        in r.stderr
    assert "! [remote rejected] main -> main (atomic push failure)" in r.stderr
    # a file over the limit without git-lfs
    write(work / "huge.bin", os.urandom(10 * 1024 * 1024 + 1))
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "huge", cwd=work)
    r = git.run("push", "origin", "main", cwd=work, check=False)
    assert "! [remote rejected] main -> main (unpacker error)" in r.stderr
    assert "over the limit of 10485760 bytes" in r.stderr and "git lfs track" in r.stderr
    assert api.repo_info(repo_id).sha == head
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main"}
    assert api.list_repo_refs(repo_id, include_pull_requests=True).pull_requests == []


def test_push_racing_api_commits_loses_nothing(server: LiveServer, tmp_path: Path):
    repo_id, token = server.make_repo()
    api = server.api(token)
    git = Git(tmp_path)
    work = clone(git, server, repo_id, token, tmp_path / "work")
    stop = threading.Event()
    api_commits: list[str] = []

    def commit_through_the_api() -> None:
        for i in range(6):
            api_commits.append(api.upload_file(path_or_fileobj=f"api {i}\n".encode(), path_in_repo=f"api/{i}.txt",
                                               repo_id=repo_id).oid)
        stop.set()

    thread = threading.Thread(target=commit_through_the_api)
    thread.start()
    pushed: list[str] = []
    rejected = 0
    for i in range(6):
        write(work / "git" / f"{i}.txt", f"git {i}\n".encode())
        git.run("add", ".", cwd=work)
        git.run("commit", "-q", "-m", f"git {i}", cwd=work)
        for _ in range(50):
            r = git.run("push", "origin", "main", cwd=work, check=False)
            if r.returncode == 0:
                break
            assert "[rejected]" in r.stderr or "[remote rejected]" in r.stderr, r.stderr
            rejected += 1
            git.run("pull", "-q", "--rebase", "origin", "main", cwd=work)
        else:
            pytest.fail("the push never landed")
        pushed.append(git.out("rev-parse", "HEAD", cwd=work))
    thread.join(120)
    assert stop.is_set()
    history = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert set(api_commits) <= set(history) and pushed[-1] in history
    files = set(api.list_repo_files(repo_id))
    assert {f"api/{i}.txt" for i in range(6)} | {f"git/{i}.txt" for i in range(6)} <= files
    # git's own view agrees: a fetch gets the same head, and every file is there
    git.run("pull", "-q", "--rebase", "origin", "main", cwd=work)
    assert git.out("rev-parse", "HEAD", cwd=work) == history[0]
    assert all((work / "api" / f"{i}.txt").read_bytes() == f"api {i}\n".encode() for i in range(6))


def test_read_token_and_anonymous_cannot_push(server: LiveServer, tmp_path: Path):
    repo_id, token = server.make_repo()
    owner = repo_id.split("/")[0]
    reader = server.make_token(owner, "read")
    git = Git(tmp_path)
    work = clone(git, server, repo_id, reader, tmp_path / "work")  # a read token clones
    write(work / "a.txt", b"a\n")
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "a", cwd=work)
    head = server.api(token).repo_info(repo_id).sha
    r = git.run("push", "origin", "main", cwd=work, check=False)
    assert r.returncode != 0 and "403" in r.stderr
    r = git.run("push", repo_url(server, repo_id), "main", cwd=work, check=False)
    assert r.returncode != 0 and "could not read Username" in r.stderr  # 401: git asked for credentials
    assert server.api(token).repo_info(repo_id).sha == head


def test_a_caller_who_may_not_push_is_refused_before_the_body_is_read(server: LiveServer):
    """A read token announcing a 1 GB pack and sending a few bytes is answered 403 at once: the server does not
    wait for (nor spool) a body it would refuse. Were the body read first, the answer would be the idle timeout's
    408 once the sender stalls."""
    import socket
    from urllib.parse import urlsplit

    repo_id, _ = server.make_repo()
    reader = server.make_token(repo_id.split("/")[0], "read")
    url = urlsplit(server.url)
    auth = base64.b64encode(f"git:{reader}".encode()).decode()
    with socket.create_connection((url.hostname, url.port), timeout=120) as sock:
        sock.sendall((f"POST /{repo_id}.git/git-receive-pack HTTP/1.1\r\nHost: {url.netloc}\r\n"
                      f"Authorization: Basic {auth}\r\n"
                      "Content-Type: application/x-git-receive-pack-request\r\n"
                      "Content-Length: 1000000000\r\n\r\n").encode() + b"0000" + b"P" * 4096)
        status = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 403"), status


def _written(server: LiveServer, repo_id: str, pushed: list[str]) -> tuple[int, ...]:
    """What a push to `repo_id` of the objects `pushed` would have written: those objects, the repo's commits and
    refs, its audit entries. Counted for this repo only: the shared server's other repos may still be writing
    theirs (a full CI run once saw another's audit entry land in between)."""
    with server.stores.db.read() as conn:
        pk = conn.execute(select(repos.c.id).where(repos.c.namespace + "/" + repos.c.name == repo_id)).scalar_one()
        return (
            conn.execute(select(func.count()).select_from(git_objects).where(git_objects.c.sha.in_(pushed)))
            .scalar_one(),
            conn.execute(select(func.count()).select_from(repo_commits).where(repo_commits.c.repo_id == pk))
            .scalar_one(),
            conn.execute(select(func.count()).select_from(refs).where(refs.c.repo_id == pk)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.repo == repo_id))
            .scalar_one(),
        )


def test_bad_input_over_http_is_refused_with_nothing_written(server: LiveServer, tmp_path: Path):
    repo_id, token = server.make_repo()
    head = server.api(token).repo_info(repo_id).sha
    auth = {"Authorization": "Basic " + base64.b64encode(f"user:{token}".encode()).decode(),
            "Content-Type": "application/x-git-receive-pack-request"}
    url = f"{server.url}/{repo_id}.git/git-receive-pack"
    git = Git(tmp_path)
    work = clone(git, server, repo_id, token, tmp_path / "work")
    write(work / "a.txt", b"a\n")
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "a", cwd=work)
    tip = git.out("rev-parse", "HEAD", cwd=work)
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs"], cwd=work, input=f"{tip}\n^{head}\n".encode(),
                          capture_output=True, check=True).stdout
    command = f"{head} {tip} refs/heads/main\0report-status side-band-64k\n".encode()
    line = f"{len(command) + 4:04x}".encode() + command + b"0000"
    pushed = [row.split()[0] for row in git.out("rev-list", "--objects", tip, f"^{head}", cwd=work).splitlines()]
    before = _written(server, repo_id, pushed)
    assert len(pushed) >= 3  # the commit, its tree, a.txt (whose bytes another repo may hold already)
    for body in (b"00zzgarbage", line[:-4], b"0030" + command[:20]):
        r = httpx.post(url, content=body, headers=auth)
        assert r.status_code == 400 and "Malformed" in r.text, body
    corrupt = bytearray(pack)
    corrupt[len(pack) // 2] ^= 0xFF
    r = httpx.post(url, content=line + bytes(corrupt), headers=auth)
    assert r.status_code == 200 and b"unpack " in r.content and b"ng refs/heads/main unpacker error" in r.content
    unknown = line.replace(b"side-band-64k", b"side-band-64k frobnicate")
    unknown = f"{len(command) + 15:04x}".encode() + unknown[4:]
    r = httpx.post(url, content=unknown + pack, headers=auth)
    assert b"unpack unknown capability frobnicate" in r.content
    assert _written(server, repo_id, pushed) == before
    assert server.api(token).repo_info(repo_id).sha == head
    # the same request, well formed, lands
    r = httpx.post(url, content=line + pack, headers=auth)
    assert b"ok refs/heads/main" in r.content and server.api(token).repo_info(repo_id).sha == tip
    assert _written(server, repo_id, pushed)[0] == len(pushed)


def test_push_on_postgresql(pg_server: LiveServer, tmp_path: Path):
    repo_id, token = pg_server.make_repo()
    git = Git(tmp_path)
    work = clone(git, pg_server, repo_id, token, tmp_path / "work")
    write(work / "a.txt", b"pushed to postgres\n")
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "a", cwd=work)
    git.run("push", "-q", "origin", "main", "main:refs/heads/dev", cwd=work)
    api = pg_server.api(token)
    tip = git.out("rev-parse", "HEAD", cwd=work)
    assert api.repo_info(repo_id).sha == tip
    assert {b.name: b.target_commit for b in api.list_repo_refs(repo_id).branches} == {"main": tip, "dev": tip}
    path = hf_hub_download(repo_id, "a.txt", endpoint=pg_server.url, token=token, cache_dir=tmp_path / "hf")
    assert Path(path).read_bytes() == b"pushed to postgres\n"
    git.run("push", "-q", "origin", ":dev", cwd=work)
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main"}


def test_pull_request_author_pushes_to_its_ref(server: LiveServer, tmp_path: Path):
    """As on the Hub: open a pull request, then push to refs/pr/N with git; only main stays the writers'."""
    repo_id, token = server.make_repo()
    contributor = server.make_user()
    their_token = server.make_token(contributor, "write")
    theirs = server.api(their_token)
    pr = theirs.create_commit(repo_id, operations=[CommitOperationAdd("draft.txt", b"draft\n")],
                              commit_message="Proposal", create_pr=True)
    assert pr.pr_num == 1
    head = server.api(token).repo_info(repo_id).sha
    git = Git(tmp_path)
    work = clone(git, server, repo_id, their_token, tmp_path / "work")
    git.run("fetch", "-q", "origin", "refs/pr/1:pr/1", cwd=work)
    git.run("checkout", "-q", "pr/1", cwd=work)
    write(work / "proposal.txt", b"what I propose\n")
    git.run("add", ".", cwd=work)
    git.run("commit", "-q", "-m", "the proposal itself", cwd=work)
    r = git.run("push", "origin", "pr/1:main", cwd=work, check=False)
    assert "! [remote rejected] pr/1 -> main (permission denied)" in r.stderr
    git.run("push", "origin", "pr/1:refs/pr/1", cwd=work)
    tip = git.out("rev-parse", "HEAD", cwd=work)
    path = hf_hub_download(repo_id, "proposal.txt", revision="refs/pr/1", endpoint=server.url, token=their_token,
                           cache_dir=tmp_path / "hf")
    assert Path(path).read_bytes() == b"what I propose\n"
    api = server.api(token)
    assert api.repo_info(repo_id).sha == head
    assert [p.target_commit for p in api.list_repo_refs(repo_id, include_pull_requests=True).pull_requests] == [tip]
    details = api.get_discussion_details(repo_id, 1)
    assert any(getattr(e, "summary", None) == "the proposal itself" or getattr(e, "oid", None) == tip
               for e in details.events)
