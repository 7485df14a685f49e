"""A model's factsheet, recorded not written: the real huggingface_hub client makes the history (an organisation's
repos, uploads, a card naming a base model and datasets of the hub, a pickle the policy scans, evaluation results,
downloads), a promotion is approved by a second admin and the model attached to a use case; then
GET /api/models/{id}/factsheet answers it as JSON, Markdown and PDF. The PDF opens (page 1 rendered to an image with
pypdfium2, not blank) and its text lists the facts with their sources: the uploader's user name from the audit
log, the base model, the scan result, the approval, the Annex IV MISSING marks. A revision argument picks an older
revision's facts; an outsider gets RepositoryNotFound and a private repo's reads are audited as factsheet.read.
Commits pushed with git name the pusher (the authenticated user), not the author git was told."""

from __future__ import annotations

import json
import pickle
import re
import uuid
from collections import OrderedDict
from pathlib import Path

import httpx
import pypdfium2 as pdfium
import yaml
from huggingface_hub import CommitOperationAdd, hf_hub_download
from PIL import Image
from sqlalchemy import select

from inhouse.storage.db.schema import audit_log
from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer

CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
base_model: {base}
datasets:
- {data}
- someone/elsewhere
model-index:
- name: tuned
  results:
  - task: {{type: text-classification}}
    dataset: {{name: tickets, type: {data}}}
    metrics:
    - {{type: accuracy, name: accuracy, value: 0.912}}
---
# Tuned <script>alert(1)</script>

## Intended uses
Routing support tickets; see [docs](javascript:alert(2)).

## Limitations
English tickets only.
"""

EVAL = [{"dataset": {"id": "{data}", "task_id": "text-classification/macro_f1"}, "value": 0.8734,
         "notes": "hand-written"}]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _get(server: LiveServer, repo_id: str, token: str | None, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/models/{repo_id}/factsheet", params=params, timeout=120,
                     headers=_auth(token) if token else {})


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_factsheet_of_a_model_lists_what_happened_with_sources(server: LiveServer, tmp_path: Path) -> None:
    alice, bob, outsider = server.make_user(), server.make_user(), server.make_user()
    ta, tb = server.make_token(alice, "write"), server.make_token(bob, "write")
    org = f"acme{uuid.uuid4().hex[:6]}"
    assert httpx.post(f"{server.url}/api/organizations", json={"name": org}, headers=_auth(ta)).status_code == 200
    r = httpx.put(f"{server.url}/api/organizations/{org}/members/{bob}", json={"role": "admin"}, headers=_auth(ta))
    assert r.status_code == 200, r.text
    api = server.api(ta)
    base, data, model = f"{org}/base", f"{org}/tickets", f"{org}/tuned"
    api.create_repo(base)
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# base\n", path_in_repo="README.md", repo_id=base)
    api.create_repo(data, repo_type="dataset")
    api.create_repo(model, private=True)
    policy = "licenses:\n  deny: [gpl-3.0]\npickles:\n  outcome: quarantine\n"
    r = httpx.put(f"{server.url}/api/orgs/{org}/policy", headers=_auth(ta),
                  json={"document": policy, "message": "no GPL, no unsafe pickles"})
    assert r.status_code == 200, r.text
    first = api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=model,
                            commit_message="config").oid
    weights = pickle.dumps(OrderedDict(w=[1.0, 2.0]), protocol=4)
    evals = yaml.safe_dump(json.loads(json.dumps(EVAL).replace("{data}", data))).encode()
    second = api.create_commit(model, commit_message="Card, weights and results", operations=[
        CommitOperationAdd("README.md", CARD.format(base=base, data=data).encode()),
        CommitOperationAdd("weights.bin", weights),
        CommitOperationAdd(".eval_results/tickets.yaml", evals)]).oid

    # a promotion asked by alice, approved by bob; the model serves a use case; bob downloads it
    r = httpx.post(f"{server.url}/api/models/{model}/promotions", headers=_auth(ta),
                   json={"stage": "validated", "reason": "passes the ticket benchmark"})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    r = httpx.post(f"{server.url}/api/models/{model}/approvals/{number}/approve", headers=_auth(tb),
                   json={"reason": "checked the eval results"})
    assert r.status_code == 200, r.text
    r = httpx.post(f"{server.url}/api/orgs/{org}/use-cases", headers=_auth(ta), json={
        "title": "Ticket triage", "slug": "triage", "riskTier": "limited", "purpose": "route support tickets"})
    assert r.status_code in (200, 201), r.text
    r = httpx.post(f"{server.url}/api/orgs/{org}/use-cases/triage/models", headers=_auth(ta), json={"repo": model})
    assert r.status_code in (200, 201), r.text
    hf_hub_download(model, "config.json", token=tb, endpoint=server.url, cache_dir=str(tmp_path / "cache"))

    # JSON: every fact has a source; the facts of what happened are there
    r = _get(server, model, ta)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    sheet = r.json()
    assert sheet["repo"] == model and sheet["revision"] == second and sheet["ref"] == "refs/heads/main"
    assert sheet["facts"] and all(f["source"] for f in sheet["facts"])
    facts = {(f["section"], f["name"]): f for f in sheet["facts"]}
    uploaded = facts[("uploads", f"commit {second[:12]} uploaded by")]
    assert uploaded["value"].startswith(f"{alice} (commit API") and re.fullmatch(r"audit #\d+", uploaded["source"])
    lineage = facts[("lineage", f"base model {base} in this hub")]
    assert "license mit" in lineage["value"] and lineage["source"] == f"repo {base}"
    assert "not a repo of this hub" in facts[("lineage", "dataset someone/elsewhere in this hub")]["value"]
    scan = facts[("scans", "weights.bin [pickle]")]
    assert scan["source"].startswith("file_scans sha256:"), scan  # .bin is a large file (the default .gitattributes)
    assert scan["value"].startswith(("clean", "findings")), scan
    evaluation = next(f for (section, name), f in facts.items()
                      if section == "policy" and name.endswith("of this revision (commit)"))
    assert evaluation["value"].startswith(f"allow under policy version 1, by {alice}"), evaluation
    assert re.fullmatch(r"policy_evaluations #\d+", evaluation["source"])
    assert facts[("evaluations", f"{data} text-classification/macro_f1")]["value"].startswith("0.8734 (unverified")
    assert facts[("evaluations", "tickets text-classification accuracy")]["value"].startswith("0.912")
    review = facts[("lifecycle", f"request #{number} approve by {bob}")]
    assert "checked the eval results" in review["value"] and review["source"] == f"approval request #{number}"
    assert facts[("lifecycle", "stage")]["value"].startswith("validated")
    assert "route support tickets" in facts[("use_cases", f"{org}/triage")]["value"]
    assert facts[("downloads", f"read by {bob} (file.download)")]["value"].startswith("1 time")
    counted = api.model_info(model, expand=["downloadsAllTime"]).downloads_all_time
    assert counted and facts[("downloads", "downloads, all time")]["value"] == counted
    annex = {a["item"]: a for a in sheet["annex_iv"]}
    assert "route support tickets" in annex["Intended purpose"]["value"]
    assert annex["EU declaration of conformity"]["missing"].startswith("MISSING: ")

    # an older revision's facts: before the card, the weights and the results
    r = _get(server, model, ta, revision=first)
    old = {(f["section"], f["name"]) for f in r.json()["facts"]}
    assert r.json()["revision"] == first
    assert ("uploads", f"commit {first[:12]} uploaded by") in old
    assert ("uploads", f"commit {second[:12]}") not in old and ("scans", "weights.bin [pickle]") not in old
    assert not any(s == "lineage" for s, _ in old)

    # Markdown: markup from the card stays text
    r = _get(server, model, ta, format="md")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text and "](javascript" not in r.text

    # PDF: an attachment that opens, renders, and lists the facts with their sources
    r = _get(server, model, tb, format="pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{org}-tuned-{second[:12]}-factsheet.pdf"'
    pdf = pdfium.PdfDocument(r.content)
    assert len(pdf) >= 2
    image: Image.Image = pdf[0].render(scale=1).to_pil()
    assert image.size[0] in (595, 596) and image.size[1] in (841, 842), image.size  # A4 at 72 dpi
    dark = sum(image.convert("L").histogram()[:128])  # pixels darker than mid-grey
    assert 1_000 < dark < 595 * 842 // 2, dark  # text on a white page: neither blank nor filled
    text = _squash("".join(page.get_textpage().get_text_range() for page in pdf))
    for needle in (f"Factsheet:{model}", second, f"{alice}(commitAPI", f"basemodel{base}", f"repo{base}",
                   "weights.bin[pickle]", "file_scanssha256:", f"request#{number}approveby{bob}",
                   f"approvalrequest#{number}", "MISSING:", "EUdeclarationofconformity",
                   f"{org}/triage", "downloadcounter", "policy_evaluations#", "Source"):
        assert _squash(needle) in text, needle
    assert re.search(r"audit#\d+", text)

    # a member who may read the model but not review its access sees how many read it, not who
    carol = server.make_user()
    r = httpx.put(f"{server.url}/api/organizations/{org}/members/{carol}", json={"role": "read"}, headers=_auth(ta))
    assert r.status_code == 200, r.text
    seen = _get(server, model, server.make_token(carol, "read")).json()
    downloads = {f["name"]: f for f in seen["facts"] if f["section"] == "downloads"}
    assert downloads["audited reads"]["value"].startswith("1 by 1 reader")
    assert not [n for n in downloads if n.startswith("read by")]
    assert "Readers are named to the repo's admins only." in seen["sections"]["downloads"]["notes"]

    # an outsider: the repo does not exist; the private repo's reads were audited as factsheet.read
    r = _get(server, model, server.make_token(outsider, "read"))
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.details).where(
            audit_log.c.repo == model, audit_log.c.action == "factsheet.read")).all()
    assert [(a, json.loads(d)["format"]) for a, d in rows] == [(alice, "json"), (alice, "json"), (alice, "md"),
                                                               (bob, "pdf"), (carol, "json")]


def test_factsheet_answers_bad_requests_clearly(server: LiveServer) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    repo_id = server.api(token).create_repo(f"{owner}/m{uuid.uuid4().hex[:6]}").repo_id
    for bad in ("html", "pdf\u202e", "\x00", "j" * 5000):
        r = _get(server, repo_id, token, format=bad)
        assert r.status_code == 400 and "format" in r.headers["X-Error-Message"], bad  # a NUL: the query check's
    r = _get(server, repo_id, token, revision="no-such-branch")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound"
    sheet = _get(server, repo_id, None).json()  # a public repo: anonymous callers may read it
    assert {f["name"]: f["value"] for f in sheet["facts"] if f["section"] == "downloads"}["readers"].startswith(
        "not attributed")


def test_commits_pushed_with_git_are_attributed_to_the_pusher(server: LiveServer, tmp_path: Path) -> None:
    """Who uploaded is the authenticated user of the push (audit log), not the author git was told: each commit a
    push brings, down to the ref's old target, names the pusher."""
    owner = server.make_user()
    token = server.make_token(owner, "write")
    repo_id = server.api(token).create_repo(f"{owner}/pushed-{uuid.uuid4().hex[:6]}").repo_id
    git = Git(tmp_path / "git")
    work = tmp_path / "work"
    git.run("clone", "-q", repo_url(server, repo_id, token), str(work))
    shas = []
    for i in range(2):
        (work / f"f{i}.txt").write_text(f"{i}\n")
        git.run("add", ".", cwd=work)
        git.run("commit", "-q", "--author", "Somebody Else <else@example.com>", "-m", f"file {i}", cwd=work)
        shas.append(git.out("rev-parse", "HEAD", cwd=work))
    git.run("push", "-q", "origin", "main", cwd=work)
    sheet = _get(server, repo_id, token).json()
    facts = {f["name"]: f for f in sheet["facts"] if f["section"] == "uploads"}
    for sha in shas:
        assert "git author Somebody Else" in facts[f"commit {sha[:12]}"]["value"]
        pushed = facts[f"commit {sha[:12]} uploaded by"]
        assert pushed["value"].startswith(f"{owner} (git push,") and re.fullmatch(r"audit #\d+", pushed["source"])
    assert len({facts[f"commit {sha[:12]} uploaded by"]["source"] for sha in shas}) == 1  # one push brought both
