"""git clone, fetch and pull against a live server with the real `git` and `git-lfs` binaries, over protocol v2 and
v0 (`-c protocol.version=…`): what huggingface_hub uploaded clones back byte for byte (large files through git-lfs
and the LFS batch API), shallow clones and --unshallow, new commits arrive with fetch/pull, private and gated repos
need the right token (and a clone of one is audited once), and requests git would never send are refused cleanly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.schema import audit_log
from inhouse.storage.git.objects import object_sha
from inhouse.vocabulary import RepoType
from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer

PROTOCOLS = ["2", "0"]
FILES = {
    "README.md": b"# a model\n",
    "config.json": b'{"hidden_size": 8}\n',
    "nested/deeper/notes.txt": "unicode: \u00e9\u00e8 \u2713\n".encode(),
    "name with spaces.txt": b"spaces\n",
}
LARGE = os.urandom(300_000) + b"\0"  # binary: huggingface_hub uploads it through LFS


@dataclass
class World:
    server: LiveServer
    owner: str
    token: str  # the owner's write token
    outsider_token: str
    public: str  # repo ids
    private: str
    gated: str


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    repos = {}
    for kind in ("public", "private", "gated"):
        repo_id = f"{owner}/{kind}-{uuid.uuid4().hex[:6]}"
        api.create_repo(repo_id, private=kind == "private")
        for path, data in FILES.items():
            api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)
        api.upload_file(path_or_fileobj=LARGE, path_in_repo="weights.bin", repo_id=repo_id)
        if kind == "gated":
            api.update_repo_settings(repo_id, gated="manual")
        repos[kind] = repo_id
    api.create_branch(repos["public"], branch="dev")
    api.create_tag(repos["public"], tag="v1", tag_message="the first release")
    api.create_tag(repos["public"], tag="light")
    outsider = server.make_user()
    yield World(server, owner, token, server.make_token(outsider, "read"), repos["public"], repos["private"],
                repos["gated"])


def _git(tmp_path: Path, protocol: str, *, lfs: bool = False) -> Git:
    git = Git(tmp_path, lfs=lfs)
    git.run("config", "--global", "protocol.version", protocol)
    return git


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def _git_reads(w: World, repo_id: str) -> int:
    with w.server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.seq).where(audit_log.c.action == "git.read",
                                                          audit_log.c.repo == repo_id)).all()
    return len(rows)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_clone_holds_every_file_byte_for_byte_large_files_through_git_lfs(world: World, tmp_path: Path,
                                                                             protocol: str) -> None:
    w = world
    git = _git(tmp_path, protocol, lfs=True)
    dest = tmp_path / "clone"
    git.run("clone", repo_url(w.server, w.public, w.token), str(dest))
    api = w.server.api(w.token)
    files = _tree(dest)
    assert {k: v for k, v in files.items() if k != ".gitattributes"} == {**FILES, "weights.bin": LARGE}
    assert git.out("lfs", "ls-files", "--name-only", cwd=dest) == "weights.bin"
    # the same history the API shows, and a repository git itself finds sound
    commits = [c.commit_id for c in api.list_repo_commits(w.public)]
    assert git.out("rev-list", "HEAD", cwd=dest).split() == commits
    git.run("fsck", "--strict", cwd=dest)
    # branches and tags as the API lists them
    refs = api.list_repo_refs(w.public)
    remote = dict(reversed(line.split("\t")) for line in git.out("ls-remote", "origin", cwd=dest).splitlines())
    assert remote["HEAD"] == remote["refs/heads/main"] == commits[0]
    assert {b.ref: b.target_commit for b in refs.branches} == {
        k: v for k, v in remote.items() if k.startswith("refs/heads/")}
    assert remote["refs/tags/v1"] == remote["refs/tags/light"] == commits[0]  # the API makes lightweight tags
    assert git.out("tag", "-l", cwd=dest).split() == ["light", "v1"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shallow_clone_then_unshallow(world: World, tmp_path: Path, protocol: str) -> None:
    w = world
    git = _git(tmp_path, protocol)
    dest = tmp_path / "shallow"
    git.run("clone", "--depth=1", repo_url(w.server, w.public, w.token), str(dest))
    assert git.out("rev-parse", "--is-shallow-repository", cwd=dest) == "true"
    assert git.out("rev-list", "--count", "HEAD", cwd=dest) == "1"
    assert _tree(dest)["config.json"] == FILES["config.json"]
    git.run("fetch", "--depth=3", cwd=dest)
    assert git.out("rev-list", "--count", "HEAD", cwd=dest) == "3"
    git.run("fetch", "--deepen=2", cwd=dest)  # deepen-relative: two more behind the boundary
    assert git.out("rev-list", "--count", "HEAD", cwd=dest) == "5"
    git.run("fetch", "--unshallow", cwd=dest)
    assert git.out("rev-parse", "--is-shallow-repository", cwd=dest) == "false"
    total = len(w.server.api(w.token).list_repo_commits(w.public))
    assert git.out("rev-list", "--count", "HEAD", cwd=dest) == str(total)
    git.run("fsck", cwd=dest)
    # --shallow-since (deepen-since): every commit here is younger than 2001
    since = tmp_path / "since"
    git.run("clone", "--shallow-since=2001-01-01", repo_url(w.server, w.public, w.token), str(since))
    assert git.out("rev-list", "--count", "HEAD", cwd=since) == str(total)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fetch_and_pull_bring_new_commits(server: LiveServer, tmp_path: Path, protocol: str) -> None:
    repo_id, token = server.make_repo()
    api = server.api(token)
    api.upload_file(path_or_fileobj=b"one\n", path_in_repo="a.txt", repo_id=repo_id)
    git = _git(tmp_path, protocol)
    dest = tmp_path / "c"
    git.run("clone", repo_url(server, repo_id, token), str(dest))
    before = git.out("rev-parse", "HEAD", cwd=dest)
    api.upload_file(path_or_fileobj=b"two\n", path_in_repo="a.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"new\n", path_in_repo="sub/b.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="feature")
    git.run("fetch", cwd=dest)
    head = api.list_repo_commits(repo_id)[0].commit_id
    assert git.out("rev-parse", "origin/main", cwd=dest) == head
    assert git.out("rev-parse", "origin/feature", cwd=dest) == head
    assert git.out("rev-parse", "HEAD", cwd=dest) == before  # fetch leaves the work tree alone
    git.run("pull", "--ff-only", cwd=dest)
    assert _tree(dest)["a.txt"] == b"two\n" and _tree(dest)["sub/b.txt"] == b"new\n"
    # a pull request's ref, as the Hub serves it
    from huggingface_hub import CommitOperationAdd

    api.create_commit(repo_id, operations=[CommitOperationAdd("pr.txt", b"proposed\n")], commit_message="pr",
                      create_pr=True)
    git.run("fetch", "origin", "refs/pr/1", cwd=dest)
    assert git.out("show", "FETCH_HEAD:pr.txt", cwd=dest) == "proposed"
    # a shallow clone fetches new commits and stays shallow: nothing behind its boundary comes
    shallow = tmp_path / "s"
    git.run("clone", "--depth=1", repo_url(server, repo_id, token), str(shallow))
    api.upload_file(path_or_fileobj=b"three\n", path_in_repo="a.txt", repo_id=repo_id)
    git.run("pull", "--ff-only", cwd=shallow)
    assert git.out("rev-list", "--count", "HEAD", cwd=shallow) == "2"
    assert git.out("rev-parse", "--is-shallow-repository", cwd=shallow) == "true"
    assert _tree(shallow)["a.txt"] == b"three\n"
    git.run("fsck", cwd=shallow)
    git.run("pull", "--ff-only", cwd=dest)
    # an up-to-date fetch negotiates and gets nothing new
    assert git.run("fetch", cwd=dest).returncode == 0
    git.run("fsck", cwd=dest)


def test_private_repo_needs_a_token_that_may_read_it(world: World, tmp_path: Path) -> None:
    w = world
    git = _git(tmp_path, "2")
    # no token: git is asked for credentials (401), exactly as for a repo that does not exist
    for repo_id in (w.private, f"{w.owner}/does-not-exist"):
        r = git.run("clone", repo_url(w.server, repo_id), str(tmp_path / "x"), check=False)
        assert r.returncode != 0 and "could not read Username" in r.stderr, r.stderr
    # another user's token: not found, as a missing repo
    r = git.run("clone", repo_url(w.server, w.private, w.outsider_token), str(tmp_path / "y"), check=False)
    r2 = git.run("clone", repo_url(w.server, f"{w.owner}/does-not-exist", w.outsider_token), str(tmp_path / "y"),
                 check=False)
    assert r.returncode != 0 and "not found" in r.stderr, r.stderr
    assert r.stderr.replace(w.private, "X") == r2.stderr.replace(f"{w.owner}/does-not-exist", "X")
    # a token that is no token: git says the authentication failed
    r = git.run("clone", repo_url(w.server, w.private, "hf_not_a_token"), str(tmp_path / "bad"), check=False)
    assert r.returncode != 0 and "Authentication failed" in r.stderr, r.stderr
    # the owner's token, as the password or as a Bearer header
    git.run("clone", repo_url(w.server, w.private, w.token), str(tmp_path / "ok"))
    assert _tree(tmp_path / "ok")["config.json"] == FILES["config.json"]
    git.run("-c", f"http.extraHeader=Authorization: Bearer {w.token}", "clone", repo_url(w.server, w.private),
            str(tmp_path / "ok2"))
    assert _tree(tmp_path / "ok2")["README.md"] == FILES["README.md"]


def test_gated_repo_needs_access_granted(world: World, tmp_path: Path) -> None:
    w = world
    git = _git(tmp_path, "2")
    r = git.run("clone", repo_url(w.server, w.gated, w.outsider_token), str(tmp_path / "x"), check=False)
    assert r.returncode != 0 and "restricted" in r.stderr, r.stderr  # the server's words, as `remote: …`
    r = git.run("clone", repo_url(w.server, w.gated), str(tmp_path / "y"), check=False)
    assert r.returncode != 0 and "could not read Username" in r.stderr, r.stderr
    git.run("clone", repo_url(w.server, w.gated, w.token), str(tmp_path / "ok"))
    assert _tree(tmp_path / "ok")["config.json"] == FILES["config.json"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_clones_of_private_and_gated_repos_are_audited_once_per_fetch(world: World, tmp_path: Path,
                                                                      protocol: str) -> None:
    w = world
    git = _git(tmp_path, protocol)
    for repo_id in (w.private, w.gated, w.public):
        before = _git_reads(w, repo_id)
        dest = tmp_path / repo_id.replace("/", "_")
        git.run("clone", repo_url(w.server, repo_id, w.token), str(dest))
        git.run("fetch", cwd=dest)  # up to date: negotiates, sends no pack, reads nothing
        expected = 0 if repo_id == w.public else 1
        assert _git_reads(w, repo_id) - before == expected, repo_id
    with w.server.stores.db.read() as conn:
        row = conn.execute(select(audit_log.c.details, audit_log.c.actor).where(
            audit_log.c.action == "git.read", audit_log.c.repo == w.private).order_by(
            audit_log.c.seq.desc())).first()
    assert row is not None and w.owner in str(row.actor)


# requests git would never send ---------------------------------------------------------------------------------

def _post(w: World, repo_id: str, body: bytes, protocol: str) -> httpx.Response:
    headers = {"Content-Type": "application/x-git-upload-pack-request",
               "Authorization": f"Bearer {w.token}"}
    if protocol == "2":
        headers["Git-Protocol"] = "version=2"
    return httpx.post(f"{w.server.url}/{repo_id}.git/git-upload-pack", content=body, headers=headers, timeout=30)


def _pkt(line: str) -> bytes:
    data = line.encode()
    return f"{len(data) + 4:04x}".encode() + data


def test_malformed_and_unknown_requests_are_refused_cleanly(world: World, server: LiveServer) -> None:
    w = world
    head = w.server.api(w.token).list_repo_commits(w.public)[0].commit_id
    other_id, other_token = server.make_repo()
    other_head = server.api(other_token).list_repo_commits(other_id)[0].commit_id
    for body in (b"zzzz", b"0010want", b"00", b"0003", b"\xff\xfe\x00\x01"):
        for protocol in PROTOCOLS:
            r = _post(w, w.public, body, protocol)
            assert r.status_code == 400, (body, r.status_code, r.text)
            assert "pkt-line" in r.text or "request" in r.text
            assert r.headers["X-Error-Code"] == "BadRequest"
    cases = {
        "2": [
            (_pkt("command=fetch\n") + _pkt("frobnicate\n") + b"0001" + _pkt(f"want {head}\n") + b"0000",
             "unknown capability"),
            (_pkt("command=fetch\n") + b"0001" + _pkt(f"want {head}\n") + _pkt("filter blob:none\n") + b"0000",
             "unknown fetch argument"),
            (_pkt("command=push\n") + b"0000", "unknown command"),
            (_pkt("command=fetch\n") + b"0001" + _pkt(f"want {other_head}\n") + _pkt("done\n") + b"0000",
             f"not our ref {other_head}"),
            (_pkt("command=fetch\n") + b"0001" + _pkt("want 1234\n") + _pkt("done\n") + b"0000",
             "not a 40-digit"),
        ],
        "0": [
            (_pkt(f"want {head} side-band-64k frobnicate\n") + b"0000" + _pkt("done\n"), "unknown capability"),
            (_pkt(f"want {other_head} side-band-64k\n") + b"0000" + _pkt("done\n"), f"not our ref {other_head}"),
            (_pkt(f"want {head}\n") + _pkt("deepen-not main\n") + b"0000" + _pkt("done\n"), "not supported"),
        ],
    }
    for protocol, bodies in cases.items():
        for body, message in bodies:
            r = _post(w, w.public, body, protocol)
            assert r.status_code == 200, r.text
            assert r.content.startswith(_pkt("ERR ")[:4]) or b"ERR " in r.content[:8]
            assert message in r.content.decode(), (protocol, message, r.content[:300])
            assert b"PACK" not in r.content  # nothing of the repo's content came back
    # the dumb protocol is not served; a clear word instead
    r = httpx.get(f"{w.server.url}/{w.public}.git/info/refs", timeout=30)
    assert r.status_code == 400 and "smart" in r.json()["error"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_git_fetch_of_another_repos_commit_is_refused(world: World, server: LiveServer, tmp_path: Path,
                                                      protocol: str) -> None:
    """Objects are stored once for all repos: a clone of one repo must not hand out another's commits by id."""
    w = world
    other_id, other_token = server.make_repo(private=True)
    server.api(other_token).upload_file(path_or_fileobj=b"secret\n", path_in_repo="s.txt", repo_id=other_id)
    secret = server.api(other_token).list_repo_commits(other_id)[0].commit_id
    git = _git(tmp_path, protocol)
    dest = tmp_path / "c"
    git.run("clone", repo_url(w.server, w.public, w.token), str(dest))
    r = git.run("fetch", "origin", secret, cwd=dest, check=False)
    assert r.returncode != 0 and "not our ref" in r.stderr, r.stderr
    assert git.run("cat-file", "-e", secret, cwd=dest, check=False).returncode != 0


def test_annotated_tags_are_peeled_and_sent_with_include_tag(server: LiveServer, tmp_path: Path) -> None:
    """Refs name commits everywhere else in inhouse (the API makes lightweight tags; git push keeps an annotated
    tag's object but points the ref at its commit); should a ref name a tag object, clones peel it as git does. The
    ref is removed at the end: the shared server's other users (storage GC's walk) expect refs to name commits."""
    repo_id, token = server.make_repo()
    api = server.api(token)
    api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=repo_id)
    head = api.list_repo_commits(repo_id)[0].commit_id
    body = (f"object {head}\ntype commit\ntag v9\ntagger T <t@example.com> 1700000000 +0000\n\n"
            "release nine\n").encode()
    stores = server.stores
    with stores.db.write() as conn:
        tag = stores.objects.put(conn, "tag", body)
        ns, name = repo_id.split("/")
        repo = repo_store.find_repo(conn, RepoType.MODEL, ns, name)
        assert repo is not None
        repo_store.create_ref(conn, repo[0].id, "refs/tags/v9", tag, 0.0)
    assert tag == object_sha("tag", body)
    try:
        _clone_peels_the_tag(server, repo_id, token, tmp_path, tag, head)
    finally:
        with stores.db.write() as conn:
            repo_store.delete_ref(conn, repo[0].id, "refs/tags/v9")


def _clone_peels_the_tag(server: LiveServer, repo_id: str, token: str, tmp_path: Path, tag: str, head: str) -> None:
    for protocol in PROTOCOLS:
        git = _git(tmp_path / protocol, protocol)
        dest = tmp_path / protocol / "c"
        git.run("clone", repo_url(server, repo_id, token), str(dest))
        assert git.out("rev-parse", "v9", cwd=dest) == tag
        assert git.out("cat-file", "-t", "v9", cwd=dest) == "tag"
        assert git.out("rev-parse", "v9^{commit}", cwd=dest) == head
        assert git.out("tag", "-l", "--format=%(contents)", "v9", cwd=dest).strip() == "release nine"
        remote = git.out("ls-remote", "origin", "refs/tags/*", cwd=dest).splitlines()
        assert f"{tag}\trefs/tags/v9" in remote and f"{head}\trefs/tags/v9^{{}}" in remote



def test_a_dataset_clones_without_the_git_suffix(server: LiveServer, tmp_path: Path) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    repo_id = f"{owner}/data-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="train.csv", repo_id=repo_id, repo_type="dataset")
    git = _git(tmp_path, "2")
    dest = tmp_path / "d"
    git.run("clone", repo_url(server, repo_id, token, repo_type="dataset", suffix=""), str(dest))
    assert _tree(dest)["train.csv"] == b"a,b\n1,2\n"
    # the same name as a model is another repo: there is none
    r = git.run("clone", repo_url(server, repo_id, token), str(tmp_path / "m"), check=False)
    assert r.returncode != 0 and "not found" in r.stderr


def test_gzip_encoded_requests_are_read_and_bad_gzip_refused(world: World) -> None:
    import gzip

    w = world
    body = _pkt("command=ls-refs\n") + b"0001" + _pkt("symrefs\n") + _pkt("ref-prefix refs/heads/\n") + b"0000"
    headers = {"Content-Type": "application/x-git-upload-pack-request", "Git-Protocol": "version=2",
               "Authorization": f"Bearer {w.token}", "Content-Encoding": "gzip"}
    url = f"{w.server.url}/{w.public}.git/git-upload-pack"
    r = httpx.post(url, content=gzip.compress(body), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    head = w.server.api(w.token).list_repo_commits(w.public)[0].commit_id
    assert _pkt(f"{head} refs/heads/main\n") in r.content and r.content.endswith(b"0000")
    r = httpx.post(url, content=gzip.compress(body)[:-6] + b"garbage", headers=headers, timeout=30)
    assert r.status_code == 400 and "gzip" in r.text


def test_a_push_body_over_the_limit_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    """INHOUSE_GIT_MAX_PUSH_BYTES caps what a push may send (after gzip decoding: a small gzip body that inflates
    past it is refused too); git shows the message."""
    import gzip

    (tmp_path / "data").mkdir()
    srv = LiveServer(tmp_path / "data", env={"INHOUSE_GIT_MAX_PUSH_BYTES": "100000"}).start()
    try:
        repo_id, token = srv.make_repo()
        url = f"{srv.url}/{repo_id}.git/git-receive-pack"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-git-receive-pack-request"}
        for body, extra in ((b"0" * 200_000, {}), (gzip.compress(b"0" * 5_000_000), {"Content-Encoding": "gzip"})):
            r = httpx.post(url, content=body, headers={**headers, **extra}, timeout=30)
            assert r.status_code == 413 and "limit" in r.text and "100000 bytes" in r.text, (r.status_code, r.text)
            assert r.headers["Content-Type"].startswith("text/plain")
        # git itself: a push of a file larger than the limit (git-lfs is not involved: a plain blob)
        git = _git(tmp_path, "2")
        work = tmp_path / "w"
        git.run("clone", repo_url(srv, repo_id, token), str(work))
        (work / "big.dat").write_bytes(os.urandom(300_000))
        git.run("add", "big.dat", cwd=work)
        git.run("commit", "-q", "-m", "big", cwd=work)
        r = git.run("push", "origin", "main", cwd=work, check=False)
        assert r.returncode != 0 and "413" in r.stderr, r.stderr
        assert srv.api(token).list_repo_commits(repo_id)[0].title != "big"
    finally:
        srv.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_clone_shallow_clone_and_fetch_on_postgresql(pg_server: LiveServer, tmp_path: Path, protocol: str) -> None:
    repo_id, token = pg_server.make_repo()
    api = pg_server.api(token)
    for i in range(3):
        api.upload_file(path_or_fileobj=f"v{i}\n".encode(), path_in_repo=f"d/f{i % 2}.txt", repo_id=repo_id)
    git = _git(tmp_path, protocol)
    full, shallow = tmp_path / "full", tmp_path / "shallow"
    git.run("clone", repo_url(pg_server, repo_id, token), str(full))
    git.run("clone", "--depth=1", repo_url(pg_server, repo_id, token), str(shallow))
    commits = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert git.out("rev-list", "HEAD", cwd=full).split() == commits
    assert git.out("rev-list", "HEAD", cwd=shallow).split() == commits[:1]
    api.upload_file(path_or_fileobj=b"new\n", path_in_repo="d/f0.txt", repo_id=repo_id)
    for dest in (full, shallow):
        git.run("pull", "--ff-only", cwd=dest)
        assert _tree(dest)["d/f0.txt"] == b"new\n" and _tree(dest)["d/f1.txt"] == b"v1\n"
        git.run("fsck", cwd=dest)
