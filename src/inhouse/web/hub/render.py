"""JSON shapes of the Hub API: repo info, tree entries, commits, refs."""

from __future__ import annotations

from typing import Any

from inhouse.services.files import CommitView, FileEntry
from inhouse.services.governance.security import FileSecurity
from inhouse.services.info import RepoView
from inhouse.vocabulary import RepoType, Stage
from inhouse.web.responses import iso


def file_security_json(f: FileSecurity) -> dict[str, Any]:
    """`securityFileStatus` of a tree entry, as huggingface_hub's RepoFile.security reads it (status, avScan,
    pickleImportScan with each import's safety)."""
    pickle: dict[str, Any] | None = None
    if f.pickle_imports is not None:
        unsafe = set(f.unsafe_globals)
        pickle = {"highestSafetyLevel": "dangerous" if unsafe else "innocuous", "imports": [
            {"module": g.rpartition(".")[0], "name": g.rpartition(".")[2],
             "safety": "dangerous" if g in unsafe else "innocuous"} for g in f.pickle_imports]}
    out: dict[str, Any] = {"status": f.level, "avScan": None, "pickleImportScan": pickle}
    if f.rules:
        out["rules"] = f.rules
    if f.quarantined:
        out["quarantined"] = True
    return out


def entry_json(e: FileEntry, last_commit: CommitView | None = None, security: FileSecurity | None = None
               ) -> dict[str, Any]:
    d: dict[str, Any] = {"type": e.type, "oid": e.oid, "size": e.size, "path": e.path}
    if e.lfs is not None:
        d["lfs"] = {"oid": e.lfs.oid, "size": e.lfs.size, "pointerSize": e.pointer_size}
    if e.xet_hash is not None:
        d["xetHash"] = e.xet_hash
    if last_commit is not None:
        d["lastCommit"] = {"id": last_commit.oid, "title": last_commit.commit.title,
                           "date": iso(last_commit.commit.committer.when)}
    if security is not None:
        d["securityFileStatus"] = file_security_json(security)
    return d


def commit_json(c: CommitView, formatted: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": c.oid, "title": c.commit.title, "message": c.commit.body,
        "authors": [{"user": c.commit.author.name, "avatar": None}],
        "date": iso(c.commit.committer.when),
    }
    if formatted:
        d["formatted"] = {"title": c.commit.title, "message": c.commit.body}
    return d


# Formats whose loading can run code (pickle): without a scan of the revision's files (an older repo), these are
# named "unscanned".
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".npy", ".npz")


def security_status(v: RepoView) -> dict[str, Any]:
    """`securityRepoStatus`, as `model_info(securityStatus=True)` reads it: the files the scans found something in
    (level unsafe | caution | error, the rules, a pickle's imports, whether the repo holds the file back), or the
    pickle files never scanned (level unscanned; scansDone false)."""
    if v.security is None:
        files = [e.path for e in v.files or [] if e.path.lower().endswith(PICKLE_SUFFIXES)]
        return {"scansDone": False, "filesWithIssues": [{"path": p, "level": "unscanned"} for p in files]}
    issues = []
    for f in v.security.files:
        d: dict[str, Any] = {"path": f.path, "level": f.level, "rules": f.rules}
        if f.pickle_imports is not None:
            d["pickleImports"] = f.pickle_imports
        if f.quarantined:
            d["quarantined"] = True
        issues.append(d)
    return {"scansDone": v.security.scans_done, "filesWithIssues": issues}


BASE_MODEL_RELATIONS = ("adapter", "merge", "quantized", "finetune")


def _card_fields(card: dict[str, Any] | None) -> dict[str, Any]:
    """What the Hub's model info repeats from the card: `model-index` (evaluation results, read by the client as
    `model_index`) and `baseModels` ({relation, models: [{id}]}: the card's `base_model`, related as its
    `base_model_relation` says, else "merge" for several and "finetune" for one)."""
    if not card:
        return {}
    out: dict[str, Any] = {}
    if isinstance(card.get("model-index"), list):
        out["model-index"] = card["model-index"]
    base = card.get("base_model")
    bases = [base] if isinstance(base, str) else [b for b in base if isinstance(b, str)] \
        if isinstance(base, list) else []
    if bases:
        relation = card.get("base_model_relation")
        if relation not in BASE_MODEL_RELATIONS:
            relation = "merge" if len(bases) > 1 else "finetune"
        out["baseModels"] = {"relation": relation, "models": [{"id": b} for b in bases]}
    return out


def info_json(v: RepoView, *, blobs: bool, expand: list[str], security: bool = False) -> dict[str, Any]:
    r = v.repo
    d: dict[str, Any] = {
        "_id": str(r.id), "id": r.repo_id, "author": r.namespace, "sha": v.sha,
        "lastModified": iso(r.last_modified), "createdAt": iso(r.created_at), "private": r.private,
        # downloads: the last 30 days (absent where the caller did not count them), downloadsAllTime: every one
        "gated": r.gated or False, "disabled": r.stage == Stage.WITHDRAWN, "downloads": r.recent_downloads,
        "downloadsAllTime": r.downloads,
        "likes": r.likes, "tags": v.tags, "cardData": v.card_data, "usedStorage": v.used_storage,
    }
    if r.type is RepoType.MODEL:
        d["modelId"] = r.repo_id
        d["pipeline_tag"] = v.pipeline_tag
        d["library_name"] = v.library_name
        d["spaces"] = []
        if v.config is not None:
            d["config"] = v.config
        if v.safetensors is not None:
            d["safetensors"] = v.safetensors
        d.update(_card_fields(v.card_data))
    if v.files is not None:
        sib = []
        for e in v.files:
            s: dict[str, Any] = {"rfilename": e.path}
            if blobs:
                s["size"] = e.size
                s["blobId"] = e.oid
                if e.lfs is not None:
                    s["lfs"] = {"size": e.lfs.size, "sha256": e.lfs.oid, "pointerSize": e.pointer_size}
            sib.append(s)
        d["siblings"] = sib
    if v.eval_results is not None:
        d["evalResults"] = v.eval_results
    if security:
        d["securityRepoStatus"] = security_status(v)
    if expand:
        keep = set(expand) | {"_id", "id"}
        d = {k: val for k, val in d.items() if k in keep}
    return {k: val for k, val in d.items() if val is not None or k in ("cardData", "sha")}
