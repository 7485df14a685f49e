"""An organisation's policy enforced on commits, pushes and merges, driven with the real huggingface_hub client and
git against a live server. The policy is put through the API (PUT /api/orgs/{org}/policy).

- A pickle that runs os.system on load (protocols 0-5, a hand-written `os system` global, a pickle in a zip in a
  zip) uploaded as model.bin is refused: HfHubHTTPError 403 naming pickle.unsafe, the file and the global; nothing
  lands, and the uploaded bytes (sent before the commit) are not served by their oid. A safetensors file passes.
- A secret (an AWS key) in a small file is refused naming its kind and line, never its value.
- A GPL card in an org that denies gpl-3.0 is refused naming license.denied; a Llama-derived model that drops the
  naming and NOTICE duties is refused naming license.duty.
- A dataset CSV with e-mails and IBANs needs approval: a direct commit is refused saying to open a pull request;
  with create_pr=True it lands and an approval request opens; the evaluation names the columns and counts.
- A quarantine outcome lets the commit land but hf_hub_download raises 403 FileQuarantined until an org admin
  releases the file; a scanner that crashes (its memory limit made tiny) quarantines the file and says so.
- git push of a malicious pickle is refused with the rule in git's output.
- model_info(securityStatus=True) lists an unsafe file of a repo without an org policy (outcome allow).
- A policy change is not retroactive: files already there stay; recheck reports them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from safetensors.numpy import save as save_safetensors

from inhouse.services import orgs
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Role
from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer

STRICT = """\
licenses:
  deny: [gpl-3.0, agpl-3.0]
  denied: deny
  missing: allow
  unknown: allow
  derived: deny
pickles:
  outcome: deny
  on_error: quarantine
personal_data:
  outcome: approval
  repo_types: [dataset]
secrets:
  outcome: deny
"""
QUARANTINE = """\
pickles:
  outcome: quarantine
  on_error: quarantine
"""


class Evil:
    """Loading its pickle would run a shell command. Never loaded here: only pickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def evil_pickle(protocol: int) -> bytes:
    return pickle.dumps(Evil(), protocol=protocol)


# the classic hand-written form: GLOBAL 'os system', a string, a tuple, REDUCE
HAND_WRITTEN = b"cos\nsystem\n(S'echo pwned'\ntR."


def nested_zip() -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("archive/data.pkl", HAND_WRITTEN)
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("inner.zip", inner.getvalue())
    return outer.getvalue()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put_policy(server: LiveServer, org: str, token: str, document: str) -> int:
    r = httpx.put(f"{server.url}/api/orgs/{org}/policy", json={"document": document, "message": "test policy"},
                  headers=_auth(token), timeout=60)
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


def _audit(server: LiveServer, action: str, repo: str) -> list[dict[str, Any]]:
    with server.stores.db.read() as conn:
        return [{**e, "details": json.loads(e["details"])} for e in audit_store.scan(conn, action=action)
                if e["repo"] == repo]


def governance(server: LiveServer, path: str, token: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/{path}/governance", headers=_auth(token), timeout=60)
    assert r.status_code == 200, r.text
    return dict(r.json())


class Org:
    def __init__(self, server: LiveServer, document: str):
        self.server = server
        self.name = f"o{uuid.uuid4().hex[:8]}"
        self.admin = server.make_user()
        self.member = server.make_user()
        orgs.create_org(server.stores, self.name, admin=self.admin)
        orgs.set_member(server.stores, self.name, self.member, Role.WRITE)
        self.admin_token = server.make_token(self.admin, "write")
        self.token = server.make_token(self.member, "write")
        self.api = server.api(self.token)
        self.version = put_policy(server, self.name, self.admin_token, document)

    def repo(self, repo_type: str = "model") -> str:
        repo_id = f"{self.name}/r{uuid.uuid4().hex[:8]}"
        self.api.create_repo(repo_id, repo_type=repo_type)
        return repo_id


@pytest.fixture(scope="module")
def strict(server: LiveServer) -> Org:
    return Org(server, STRICT)


def refused(e: pytest.ExceptionInfo[HfHubHTTPError]) -> str:
    assert e.value.response is not None and e.value.response.status_code == 403
    assert e.value.response.headers.get("X-Error-Code") == "PolicyViolation"
    return str(e.value)


# pickles --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,data,global_name", [
    *[(f"protocol {p}", evil_pickle(p), f"{os.system.__module__}.system") for p in range(6)],
    ("hand-written", HAND_WRITTEN, "os.system"),
    ("zip in a zip", nested_zip(), "os.system"),
    ("named like nothing pickled", evil_pickle(4), f"{os.system.__module__}.system"),
])
def test_a_pickle_that_runs_code_on_load_is_refused(server: LiveServer, strict: Org, name: str, data: bytes,
                                                    global_name: str) -> None:
    repo_id = strict.repo()
    before = sorted(strict.api.list_repo_files(repo_id))
    head = strict.api.model_info(repo_id).sha
    path = "checkpoint" if name == "named like nothing pickled" else "model.bin"  # torch.load reads either
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)
    message = refused(e)
    assert "pickle.unsafe" in message and path in message and global_name in message, message
    assert sorted(strict.api.list_repo_files(repo_id)) == before
    assert strict.api.model_info(repo_id).sha == head
    if name == "protocol 4":  # the uploaded bytes (a large file, sent before the commit) are not served by oid
        oid = hashlib.sha256(data).hexdigest()
        batch = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", timeout=60,
                           json={"operation": "download", "objects": [{"oid": oid, "size": len(data)}]},
                           headers={**_auth(strict.token), "Accept": "application/vnd.git-lfs+json",
                                    "Content-Type": "application/vnd.git-lfs+json"})
        [obj] = batch.json()["objects"]
        assert "actions" not in obj and obj["error"]["code"] == 403 and "quarantined" in obj["error"]["message"], obj
    entries = _audit(server, "policy.refused", repo_id)
    assert len(entries) == 1 and entries[0]["outcome"] == "denied"
    details = entries[0]["details"]
    assert details["trigger"] == "commit" and details["policy_version"] == strict.version
    assert [f["rule"] for f in details["findings"]] == ["pickle.unsafe"]
    assert "echo pwned" not in json.dumps(details)  # findings never carry what was scanned


def test_a_safetensors_file_passes_and_the_evaluation_is_recorded(server: LiveServer, strict: Org) -> None:
    import numpy as np

    repo_id = strict.repo()
    weights = save_safetensors({"w": np.arange(64, dtype=np.float32)})
    info = strict.api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=repo_id)
    assert "model.safetensors" in strict.api.list_repo_files(repo_id)
    g = governance(server, f"models/{repo_id}", strict.token)
    assert g["stage"] == "draft" and g["quarantined"] == []
    latest = g["evaluations"][0]
    assert latest["outcome"] == "allow" and latest["commit"] == info.oid
    assert latest["policyVersion"] == strict.version and latest["findings"] == []


# cards ------------------------------------------------------------------------------------------------------------

def test_a_gpl_card_is_refused_naming_the_rule(strict: Org) -> None:
    repo_id = strict.repo()
    card = b"---\nlicense: gpl-3.0\n---\n# A model\n"
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id)
    message = refused(e)
    assert "license.denied" in message and "gpl-3.0" in message, message
    strict.api.upload_file(path_or_fileobj=card.replace(b"gpl-3.0", b"apache-2.0"), path_in_repo="README.md",
                           repo_id=repo_id)


def test_a_llama_derived_model_that_drops_its_duties_is_refused(strict: Org) -> None:
    base = strict.repo()
    strict.api.upload_file(path_or_fileobj=b"---\nlicense: llama3.1\n---\n# Llama 3.1\n", path_in_repo="README.md",
                           repo_id=base)
    derived = strict.repo()
    card = f"---\nlicense: llama3.1\nbase_model: {base}\n---\n# My tuned model\n".encode()
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=derived)
    message = refused(e)
    assert "license.duty" in message and base in message, message


def test_a_secret_in_a_small_file_is_refused_naming_its_kind_and_line(strict: Org) -> None:
    repo_id = strict.repo()
    key = "AKIA" + "Z3MGNC5WLQ7RT2PX"
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.upload_file(path_or_fileobj=f"import boto3\n\nKEY = '{key}'\n".encode(),
                               path_in_repo="train.py", repo_id=repo_id)
    message = refused(e)
    assert "secrets.found" in message and "train.py" in message and "3" in message, message
    assert key not in message  # never the value


# personal data: approval ------------------------------------------------------------------------------------------

def test_a_dataset_with_personal_data_needs_a_pull_request_and_approval(server: LiveServer, strict: Org) -> None:
    repo_id = strict.repo("dataset")
    data = ("name,contact,account\n" + "".join(
        f"Person {i},person{i}@example.com,DE89 3704 0044 0532 0130 00\n" for i in range(30))).encode()
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.upload_file(path_or_fileobj=data, path_in_repo="people.csv", repo_id=repo_id,
                               repo_type="dataset")
    message = refused(e)
    assert "personal_data.found" in message and "pull request" in message and "create_pr=True" in message, message
    assert "person0@example.com" not in message  # never the values
    info = strict.api.upload_file(path_or_fileobj=data, path_in_repo="people.csv", repo_id=repo_id,
                                  repo_type="dataset", create_pr=True)
    assert info.pr_num is not None
    g = governance(server, f"datasets/{repo_id}", strict.token)
    latest = g["evaluations"][0]
    assert latest["outcome"] == "approval" and latest["ref"] == f"refs/pr/{info.pr_num}"
    found = [f for f in latest["findings"] if f["rule"] == "personal_data.found"]
    assert found and found[0]["path"] == "people.csv"
    assert "contact" in json.dumps(found[0]["details"]) and "account" in json.dumps(found[0]["details"])
    r = httpx.get(f"{server.url}/api/datasets/{repo_id}/approvals", headers=_auth(strict.token), timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    requests = body if isinstance(body, list) else body.get("requests", body.get("approvals", []))
    change = [q for q in requests if q["kind"] == "change"]
    assert change and change[0]["target"] == f"refs/pr/{info.pr_num}" and change[0]["status"] == "open"
    # merging needs the request approved first (by someone other than its author)
    with pytest.raises(HfHubHTTPError) as e:
        strict.api.merge_pull_request(repo_id, info.pr_num, repo_type="dataset")
    assert "approv" in str(e.value)
    number = change[0]["number"]
    ok = httpx.post(f"{server.url}/api/datasets/{repo_id}/approvals/{number}/approve", json={"reason": "consented"},
                    headers=_auth(strict.admin_token), timeout=60)
    assert ok.status_code == 200, ok.text
    strict.api.merge_pull_request(repo_id, info.pr_num, repo_type="dataset")
    assert "people.csv" in strict.api.list_repo_files(repo_id, repo_type="dataset")


# quarantine -------------------------------------------------------------------------------------------------------

def _release(server: LiveServer, path: str, qid: int, token: str, reason: str = "reviewed") -> httpx.Response:
    return httpx.post(f"{server.url}/api/{path}/quarantine/{qid}/release", json={"reason": reason},
                      headers=_auth(token), timeout=60)


def test_a_quarantined_file_lands_but_is_not_served_until_released(server: LiveServer, tmp_path: Path) -> None:
    org = Org(server, QUARANTINE)
    repo_id = org.repo()
    org.api.upload_file(path_or_fileobj=evil_pickle(4), path_in_repo="model.bin", repo_id=repo_id)
    assert "model.bin" in org.api.list_repo_files(repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        hf_hub_download(repo_id, "model.bin", endpoint=server.url, token=org.token, cache_dir=tmp_path / "a")
    assert e.value.response is not None and e.value.response.status_code == 403
    assert e.value.response.headers.get("X-Error-Code") == "FileQuarantined"
    assert "pickle.unsafe" in str(e.value)
    g = governance(server, f"models/{repo_id}", org.token)
    held = g["quarantined"]
    assert [(q["path"], q["rule"], q["active"]) for q in held] == [("model.bin", "pickle.unsafe", True)]
    assert len(_audit(server, "policy.quarantine", repo_id)) == 1
    security = org.api.model_info(repo_id, securityStatus=True).security_repo_status
    issue = [f for f in security["filesWithIssues"] if f["path"] == "model.bin"][0]
    assert issue["level"] == "unsafe" and issue.get("quarantined") is True
    # only an org admin releases, with a reason
    assert _release(server, f"models/{repo_id}", held[0]["id"], org.token).status_code == 403
    assert _release(server, f"models/{repo_id}", held[0]["id"], org.admin_token, reason="").status_code == 400
    ok = _release(server, f"models/{repo_id}", held[0]["id"], org.admin_token)
    assert ok.status_code == 200 and ok.json()["active"] is False, ok.text
    path = hf_hub_download(repo_id, "model.bin", endpoint=server.url, token=org.token, cache_dir=tmp_path / "b")
    assert Path(path).read_bytes() == evil_pickle(4)  # read as bytes, never unpickled
    released = _audit(server, "policy.release", repo_id)
    assert len(released) == 1 and released[0]["details"]["reason"] == "reviewed"


def test_a_scanner_crash_quarantines_the_file_and_says_so(tmp_path: Path) -> None:
    srv = LiveServer(tmp_path / "data", env={"INHOUSE_SCAN_MAX_MEMORY_BYTES": str(16 * 1024 * 1024)}).start()
    try:
        org = Org(srv, STRICT)
        repo_id = org.repo()
        org.api.upload_file(path_or_fileobj=pickle.dumps({"weights": list(range(10))}, protocol=4),
                            path_in_repo="model.bin", repo_id=repo_id)
        g = governance(srv, f"models/{repo_id}", org.token)
        assert [(q["path"], q["rule"]) for q in g["quarantined"]] == [("model.bin", "pickle.scan_error")]
        assert "scanner failed" in g["quarantined"][0]["reason"]
        with pytest.raises(HfHubHTTPError) as e:
            hf_hub_download(repo_id, "model.bin", endpoint=srv.url, token=org.token, cache_dir=tmp_path / "c")
        assert e.value.response is not None and e.value.response.status_code == 403
        assert "pickle.scan_error" in str(e.value)
    finally:
        srv.close()


# git push ---------------------------------------------------------------------------------------------------------

def test_git_push_of_a_malicious_pickle_is_refused_with_the_rule(server: LiveServer, strict: Org,
                                                                tmp_path: Path) -> None:
    repo_id = strict.repo()
    git = Git(tmp_path)
    work = tmp_path / "clone"
    git.run("clone", repo_url(server, repo_id, strict.token), str(work))
    git.run("-C", str(work), "config", "user.email", "a@example.com")
    git.run("-C", str(work), "config", "user.name", "A")
    (work / "weights.pkl").write_bytes(HAND_WRITTEN)
    (work / "notes.txt").write_text("fine\n")
    git.run("-C", str(work), "add", "weights.pkl", "notes.txt")
    git.run("-C", str(work), "commit", "-q", "-m", "add weights")
    r = git.run("-C", str(work), "push", "origin", "HEAD:main", check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "[remote rejected] HEAD -> main (policy: pickle.unsafe)" in out, out
    assert "remote:" in out and "weights.pkl" in out and "os.system" in out, out
    assert "notes.txt" not in strict.api.list_repo_files(repo_id)
    entries = _audit(server, "policy.refused", repo_id)
    assert entries and entries[0]["details"]["trigger"] == "push"
    # the production tag moves only through an approved promotion
    r = git.run("-C", str(work), "push", "origin", "HEAD~1:refs/tags/production", check=False)
    assert r.returncode != 0 and "[remote rejected] HEAD~1 -> production" in r.stdout + r.stderr, r.stderr
    # nor a branch of that name, which would shadow the tag (a revision names a branch first)
    r = git.run("-C", str(work), "push", "origin", "HEAD~1:refs/heads/production", check=False)
    assert r.returncode != 0 and "the branch name 'production' is reserved" in r.stdout + r.stderr, r.stderr
    assert "production" not in {b.name for b in strict.api.list_repo_refs(repo_id).branches}


# securityStatus and retroactivity ---------------------------------------------------------------------------------

def test_security_status_lists_an_unsafe_file_of_a_repo_without_a_policy(server: LiveServer) -> None:
    repo_id, token = server.make_repo()
    api = server.api(token)
    api.upload_file(path_or_fileobj=HAND_WRITTEN, path_in_repo="model.bin", repo_id=repo_id)  # allowed
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    status = api.model_info(repo_id, securityStatus=True).security_repo_status
    assert status["scansDone"] is True
    [issue] = status["filesWithIssues"]
    assert issue["path"] == "model.bin" and issue["level"] == "unsafe" and "pickle.unsafe" in issue["rules"]
    assert "os.system" in issue["pickleImports"]
    # tree entries with expand carry each file's status as the client's RepoFile.security reads it
    [weights] = api.get_paths_info(repo_id, ["model.bin"], expand=True)
    assert weights.security is not None and weights.security["status"] == "unsafe" and not weights.security.safe
    scan = weights.security["pickle_import_scan"]
    assert scan["highestSafetyLevel"] == "dangerous"
    assert {"module": "os", "name": "system", "safety": "dangerous"} in scan["imports"]
    listed = {f.path: f for f in api.list_repo_tree(repo_id, expand=True) if hasattr(f, "security")}
    assert listed["model.bin"].security["status"] == "unsafe" and listed["config.json"].security is None


def test_a_policy_change_is_not_retroactive_and_recheck_reports_it(server: LiveServer) -> None:
    org = Org(server, "pickles:\n  outcome: allow\n")
    repo_id = org.repo()
    org.api.upload_file(path_or_fileobj=HAND_WRITTEN, path_in_repo="model.bin", repo_id=repo_id)
    version = put_policy(server, org.name, org.admin_token, STRICT)
    assert "model.bin" in org.api.list_repo_files(repo_id)  # stays
    url = f"{server.url}/api/orgs/{org.name}/policy/recheck"
    assert httpx.post(url, headers=_auth(org.token), timeout=60).status_code == 403  # org admins only
    r = httpx.post(url, headers=_auth(org.admin_token), timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policyVersion"] == version and "Nothing was changed" in body["note"]
    [result] = [x for x in body["repos"] if x["repo"] == repo_id]
    assert result["outcome"] == "deny"
    assert [(f["rule"], f["path"]) for f in result["findings"]] == [("pickle.unsafe", "model.bin")]
    assert "model.bin" in org.api.list_repo_files(repo_id)
    entries = _audit(server, "policy.recheck", org.name)
    assert entries and entries[-1]["details"]["version"] == version
