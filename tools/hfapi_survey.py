"""Calls every public method of huggingface_hub's HfApi against a fresh live inhouse server and classifies each:
works (the answer checked), wrong (an answer, but not the right one), error (an exception), saas (a Hugging Face
SaaS product an on-premises hub does not offer: not called, the reason printed).

    .venv/bin/python tools/hfapi_survey.py [--only NAME,NAME] [--verbose]

Prints one row per method and the counts; exits 0 (it is a survey, not a test). It takes a few seconds. To survey
an older revision of the server: `git archive REV src | tar -x -C /tmp/old` and run it with
PYTHONPATH=/tmp/old/src (the server process inherits it)."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import struct
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
warnings.filterwarnings("ignore", message="Hidden comments")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support

from huggingface_hub import (CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HfApi,  # noqa: E402
                             WebhookWatchedItem)

import httpx  # noqa: E402

from tests.support.live import LiveServer  # noqa: E402

SPACES = "Spaces runtime (hardware, builds, logs, secrets, variables, dev mode, volumes) runs on HF infrastructure"
SAAS: dict[str, str] = {
    **{m: SPACES for m in (
        "add_space_secret", "add_space_variable", "delete_space_secret", "delete_space_variable",
        "delete_space_volumes", "disable_space_dev_mode", "enable_space_dev_mode", "fetch_space_logs",
        "get_space_runtime", "get_space_secrets", "get_space_variables", "pause_space", "request_space_hardware",
        "restart_space", "set_space_sleep_time", "set_space_volumes", "wait_for_space", "list_spaces_hardware",
        "list_space_templates", "get_zero_gpu_quota", "search_spaces")},
    **{m: "Inference Endpoints: managed deployment on HF's cloud" for m in (
        "create_inference_endpoint", "create_inference_endpoint_from_catalog", "delete_inference_endpoint",
        "get_inference_endpoint", "list_inference_endpoints", "list_inference_endpoints_hardware",
        "pause_inference_endpoint", "resume_inference_endpoint", "scale_to_zero_inference_endpoint",
        "update_inference_endpoint", "list_inference_catalog")},
    **{m: "HF Jobs: compute on HF infrastructure (inhouse runs its own evaluation jobs through its API)" for m in (
        "cancel_job", "fetch_job_logs", "fetch_job_metrics", "inspect_job", "list_jobs", "list_jobs_hardware",
        "rerun_job", "run_job", "run_uv_job", "update_job_expose", "update_job_labels", "wait_for_job",
        "sync_job_volume")},
    **{m: "scheduled HF Jobs: cron on HF infrastructure" for m in (
        "create_scheduled_job", "create_scheduled_uv_job", "delete_scheduled_job", "inspect_scheduled_job",
        "list_scheduled_jobs", "resume_scheduled_job", "suspend_scheduled_job", "trigger_scheduled_job",
        "update_scheduled_job_labels", "update_scheduled_job_schedule")},
    **{m: "Storage Buckets: a separate HF storage product (paid, not a git repo)" for m in (
        "batch_bucket_files", "bucket_info", "create_bucket", "delete_bucket", "download_bucket_files",
        "get_bucket_file_metadata", "get_bucket_paths_info", "list_bucket_tree", "list_buckets", "move_bucket",
        "sync_bucket", "update_bucket_settings")},
    **{m: "papers: hf.co/papers mirrors arXiv, a public SaaS feed" for m in (
        "list_daily_papers", "list_papers", "paper_info", "read_paper")},
    "update_collection_resource_group": "resource groups are an Enterprise Hub billing/ACL product",
    "list_dataset_parquet_files": "parquet conversion is done by the datasets-server (dataset viewer) service",
    "list_organization_followers": "social follow graph of hf.co",
    "list_user_followers": "social follow graph of hf.co",
    "list_user_following": "social follow graph of hf.co",
    "kernel_info": "kernels are a hub product for compiled kernels (kernels-community)",
}


class Wrong(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Wrong(what)


class Ctx:
    def __init__(self, server: LiveServer) -> None:
        s = server
        self.s = s
        self.alice = s.make_user("alice")
        self.bob = s.make_user("bob")
        self.tok = s.make_token(self.alice, "write")
        self.btok = s.make_token(self.bob, "write")
        self.api: HfApi = s.api(self.tok)
        self.bapi: HfApi = s.api(self.btok)
        from inhouse.services import orgs
        orgs.create_org(s.stores, "acme", admin=self.alice)
        self.org = "acme"
        self.repo = f"{self.alice}/model"
        self.api.create_repo(self.repo)
        self.api.create_commit(self.repo, [
            CommitOperationAdd("config.json", b'{"model_type": "bert"}'),
            CommitOperationAdd("README.md", b"---\nlicense: mit\ntags:\n- text-classification\n---\n# m\n"),
            CommitOperationAdd("big.bin", b"\0" * (11 << 20)),
            CommitOperationAdd("dir/a.txt", b"a"), CommitOperationAdd("dir/b.txt", b"b")],
            commit_message="first")
        self.dataset = f"{self.alice}/data"
        self.api.create_repo(self.dataset, repo_type="dataset")
        self.api.upload_file(path_or_fileobj=b"x,y\n1,2\n", path_in_repo="data.csv", repo_id=self.dataset,
                             repo_type="dataset")
        self.gated = f"{self.alice}/gated"
        self.api.create_repo(self.gated)
        self.api.update_repo_settings(self.gated, gated="manual")
        self.collection: Any = None
        self.webhook: Any = None
        self.tmp = Path(tempfile.mkdtemp())

    def fresh(self, kind: str = "model") -> str:
        rid = f"{self.alice}/t{uuid.uuid4().hex[:8]}"
        self.api.create_repo(rid, repo_type=kind)
        self.api.upload_file(path_or_fileobj=b"hello", path_in_repo="f.txt", repo_id=rid, repo_type=kind)
        return rid

    def pr(self, rid: str) -> int:
        info = self.api.create_commit(rid, [CommitOperationAdd("pr.txt", b"pr")], commit_message="pr",
                                      create_pr=True)
        return int(info.pr_num or 0)

    def coll(self) -> Any:
        if self.collection is None:
            self.collection = self.api.create_collection("Approved", description="d")
        return self.collection

    def hook(self) -> Any:
        if self.webhook is None:
            self.webhook = self.api.create_webhook(url="http://127.0.0.1:9/hook",
                                                   watched=[WebhookWatchedItem(type="user", name=self.alice)],
                                                   domains=["repo"], secret="s3cret")
        return self.webhook


def survey(c: Ctx) -> dict[str, Callable[[], None]]:
    a, b, repo = c.api, c.bapi, c.repo

    def access_flow(method: str) -> None:
        rid = c.fresh()
        a.update_repo_settings(rid, gated="manual")
        b.model_info(rid)
        # the Hub's web form asks for access; the client has no call for it
        httpx.post(f"{c.s.url}/{rid}/ask-access", headers={"authorization": f"Bearer {c.btok}"}, data={})
        if method == "list_pending_access_requests":
            check([x.username for x in a.list_pending_access_requests(rid)] == [c.bob], "bob pending")
        elif method == "accept_access_request":
            a.accept_access_request(rid, c.bob)
            check([x.username for x in a.list_accepted_access_requests(rid)] == [c.bob], "bob accepted")
        elif method == "list_accepted_access_requests":
            a.accept_access_request(rid, c.bob)
            check([x.username for x in a.list_accepted_access_requests(rid)] == [c.bob], "bob accepted")
        elif method in ("reject_access_request", "list_rejected_access_requests"):
            a.reject_access_request(rid, c.bob, rejection_reason="no")
            check([x.username for x in a.list_rejected_access_requests(rid)] == [c.bob], "bob rejected")
        elif method == "cancel_access_request":
            a.accept_access_request(rid, c.bob)
            a.cancel_access_request(rid, c.bob)
            check(list(a.list_accepted_access_requests(rid)) == [], "none accepted")

    def comment_id(rid: str, num: int) -> str:
        return a.comment_discussion(rid, num, "hello").id

    def t_upload_attachment() -> None:
        p = c.tmp / "pic.png"
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
        url = a.upload_attachment(p)
        check(isinstance(url, str) and url.startswith("http"), f"url {url!r}")

    def t_permanently_delete_lfs() -> None:
        rid = c.fresh()
        a.upload_file(path_or_fileobj=b"L" * (11 << 20), path_in_repo="leak.bin", repo_id=rid)
        files = list(a.list_lfs_files(rid))
        a.permanently_delete_lfs_files(rid, files)
        check(list(a.list_lfs_files(rid)) == [], "lfs files left")

    def t_like() -> None:  # the Hub's web page likes; the client only unlikes
        httpx.post(f"{c.s.url}/api/models/{repo}/like", headers={"authorization": f"Bearer {c.btok}"})

    def t_copy_files() -> None:
        dst = c.fresh()
        a.copy_files(f"hf://{repo}/big.bin", f"hf://{dst}/copied.bin")
        check("copied.bin" in a.list_repo_files(dst), "copied")

    def t_duplicate() -> None:
        url = a.duplicate_repo(repo, f"{c.alice}/dup{uuid.uuid4().hex[:6]}")
        check("big.bin" in a.list_repo_files(url.repo_id), "dup files")

    def t_move() -> None:
        rid = c.fresh()
        to = f"{c.alice}/moved{uuid.uuid4().hex[:6]}"
        a.move_repo(rid, to)
        # the Hub redirects the old name to the new one, as inhouse does
        check(a.model_info(to).id == to and a.model_info(rid).id == to, "moved")

    def t_hook_update() -> None:
        w = a.update_webhook(c.hook().id, url="http://127.0.0.1:9/other",
                             watched=[WebhookWatchedItem(type="user", name=c.alice)], domains=["repo"])
        check(w.url == "http://127.0.0.1:9/other", "url")

    def t_squash() -> None:
        rid = c.fresh()
        a.upload_file(path_or_fileobj=b"2", path_in_repo="g.txt", repo_id=rid)
        a.super_squash_history(rid)
        check(len(a.list_repo_commits(rid)) == 1, "one commit")

    def t_create_repo_case() -> None:
        url = a.create_repo(f"{c.alice.upper()}/cased{uuid.uuid4().hex[:4]}")
        check(url.repo_id.startswith(c.alice + "/"), f"canonical owner: {url.repo_id}")

    def t_preupload() -> None:
        rid = c.fresh()
        op = CommitOperationAdd("p.bin", b"P" * (11 << 20))
        a.preupload_lfs_files(rid, [op])
        a.create_commit(rid, [op], commit_message="p")
        check(a.hf_hub_download(rid, "p.bin", cache_dir=c.tmp) and True, "downloaded")

    def t_hide() -> None:
        num = c.pr(repo)
        cid = comment_id(repo, num)
        hidden = a.hide_discussion_comment(repo, num, cid)
        check(hidden.hidden, "hidden")

    def t_model_info() -> None:
        info = a.model_info(repo)
        check(info.id == repo and info.author == c.alice, f"id/author {info.id} {info.author}")
        check(info.sha == a.list_repo_commits(repo)[0].commit_id, "sha is the head")
        check({s.rfilename for s in info.siblings or []} >= {"config.json", "big.bin", "dir/a.txt"}, "siblings")
        check(info.card_data is not None and info.card_data.get("license") == "mit", f"cardData {info.card_data}")
        check("text-classification" in (info.tags or []) and "license:mit" in (info.tags or []), f"tags {info.tags}")
        check(info.private is False and info.gated is False, "private/gated")
        check(info.config == {"model_type": "bert"}, f"config {info.config}")
        st = a.model_info(_safetensors(c)).safetensors
        check(st is not None and st.total == 1 and st.parameters == {"F32": 1}, f"safetensors {st}")
        check(isinstance(info.downloads, int) and isinstance(info.likes, int), "downloads/likes")
        check(info.created_at is not None and info.last_modified is not None, "dates")
        full = a.model_info(repo, files_metadata=True)
        big = [s for s in full.siblings or [] if s.rfilename == "big.bin"][0]
        check(big.size == 11 << 20 and big.lfs is not None and len(big.lfs.sha256) == 64, f"lfs sibling {big}")
        check(a.model_info(repo, securityStatus=True).security_repo_status is not None, "securityStatus")
        check(a.model_info(c.gated).gated == "manual", "gated manual")

    def t_dataset_info() -> None:
        info = a.dataset_info(c.dataset)
        check(info.id == c.dataset and info.author == c.alice, "id")
        check({s.rfilename for s in info.siblings or []} >= {"data.csv"}, "siblings")
        check(info.sha == a.list_repo_commits(c.dataset, repo_type="dataset")[0].commit_id, "sha")

    def t_list_repo_tree() -> None:
        check({e.path for e in a.list_repo_tree(repo, "dir")} == {"dir/a.txt", "dir/b.txt"}, "tree")
        top = {e.path: e for e in a.list_repo_tree(repo, expand=True)}
        check(set(top) >= {"dir", "big.bin", "config.json"}, f"top {set(top)}")
        check(getattr(top["config.json"], "last_commit", None) is not None, "expand: last_commit")
        check(getattr(top["big.bin"], "lfs", None) is not None, "lfs entry")
        check(len(list(a.list_repo_tree(repo, recursive=True))) >= 7, "recursive")

    def t_get_paths_info() -> None:
        got = a.get_paths_info(repo, ["config.json", "dir", "missing"], expand=True)
        check(sorted(p.path for p in got) == ["config.json", "dir"], f"paths {[p.path for p in got]}")
        check(all(getattr(p, "last_commit", None) is not None for p in got), "expand: last_commit")

    def t_list_repo_commits() -> None:
        commits = a.list_repo_commits(repo, formatted=True)
        check(commits[-1].title == "initial commit" and commits[0].title == "first", f"{[x.title for x in commits]}")
        check(commits[0].formatted_title is not None, "formatted")
        check(c.alice in (commits[0].authors or []), f"authors {commits[0].authors}")

    def t_refs() -> None:
        rid = c.fresh()
        a.create_tag(rid, tag="v1")
        c.pr(rid)
        refs = a.list_repo_refs(rid, include_pull_requests=True)
        check([r.name for r in refs.branches] == ["main"] and [t.name for t in refs.tags] == ["v1"], "refs")
        check([p.ref for p in refs.pull_requests or []] == ["refs/pr/1"], f"prs {refs.pull_requests}")
        try:
            a.create_tag(rid, tag="v2", revision="no-such-branch")
            raise Wrong("a tag on a missing revision was created")
        except Exception as e:  # noqa: BLE001
            check(type(e).__name__ == "RevisionNotFoundError", f"{type(e).__name__}")

    def t_discussions() -> None:
        rid = c.fresh()
        d = a.create_discussion(rid, "A question")
        n = c.pr(rid)
        b.create_discussion(rid, "From bob")
        a.change_discussion_status(rid, d.num, "closed")
        prs = [x.num for x in a.get_repo_discussions(rid, discussion_type="pull_request")]
        check(prs == [n], f"prs {prs}")
        open_ = sorted(x.num for x in a.get_repo_discussions(rid, discussion_status="open"))
        check(d.num not in open_ and n in open_, f"open {open_}")
        by_bob = [x.title for x in a.get_repo_discussions(rid, author=c.bob)]
        check(by_bob == ["From bob"], f"author {by_bob}")

    def t_details() -> None:
        rid = c.fresh()
        n = c.pr(rid)
        a.comment_discussion(rid, n, "looks good")
        det = a.get_discussion_details(rid, n)
        check("pr.txt" in (det.diff or ""), f"diff {det.diff!r}")
        check(det.is_pull_request and det.status == "open" and det.git_reference == f"refs/pr/{n}", "pr fields")
        check(any(getattr(e, "content", None) == "looks good" for e in det.events), "comment event")
        check(det.merge_commit_oid is None, "no merge yet")

    def t_hf_file_metadata() -> None:
        m = a.get_hf_file_metadata(url=f"{c.s.url}/{repo}/resolve/main/config.json")
        check(m.size == 22 and m.commit_hash == a.model_info(repo).sha, "small file")
        lfs = a.get_hf_file_metadata(url=f"{c.s.url}/{repo}/resolve/main/big.bin")
        check(lfs.size == 11 << 20 and lfs.etag is not None and len(lfs.etag) == 64, f"lfs etag {lfs.etag}")

    def t_whoami() -> None:
        me = a.whoami()
        check(me["name"] == c.alice and me.get("type") == "user", "name/type")
        check(c.org in [o["name"] for o in me.get("orgs", [])], f"orgs {me.get('orgs')}")
        check(me.get("auth", {}).get("accessToken", {}).get("role") == "write", f"auth {me.get('auth')}")

    def t_user_overview() -> None:
        u = a.get_user_overview(c.alice)
        check(u.username == c.alice, "username")
        check((u.num_models or 0) >= 1 and (u.num_datasets or 0) >= 1, f"counts {u.num_models} {u.num_datasets}")
        check(c.org in [o.name for o in u.orgs], f"orgs {u.orgs}")

    def t_org_overview() -> None:
        o = a.get_organization_overview(c.org)
        check(o.name == c.org and (o.num_users or 0) >= 1, f"org {o}")
        c.api.create_repo(f"{c.org}/team-model", exist_ok=True)
        o = a.get_organization_overview(c.org.upper())
        check(o.name == c.org and o.num_models == 1 and o.num_datasets == 0, f"org counts {o}")

    def t_list_collections() -> None:
        col = a.add_collection_item(c.coll().slug, repo, "model", exists_ok=True)
        check(col.slug in [x.slug for x in a.list_collections(owner=c.alice)], "by owner")
        check(col.slug in [x.slug for x in a.list_collections(item=f"models/{repo}")], "by item")

    def t_model_tags() -> None:
        tags = a.get_model_tags()
        check(isinstance(tags, dict) and "text-classification" in str(tags), f"{str(tags)[:80]}")

    def t_space() -> None:
        rid = f"{c.alice}/space{uuid.uuid4().hex[:6]}"
        a.create_repo(rid, repo_type="space", space_sdk="static")
        check(a.space_info(rid).id == rid, "space_info")

    def t_list_spaces() -> None:
        t_space()
        check(any(x.id.startswith(f"{c.alice}/space") for x in a.list_spaces(author=c.alice)), "listed")

    def t_list_models() -> None:
        names = [m.id for m in a.list_models(author=c.alice)]
        check(repo in names, f"{repo} in {names}")
        check([m.id for m in a.list_models(search="model", author=c.alice)] == [repo], "search")
        check(repo in [m.id for m in a.list_models(filter="text-classification")], "filter by tag")
        ranked = [m.id for m in a.list_models(author=c.alice, sort="downloads", limit=1)]
        check(ranked == [repo], f"sort by downloads {ranked}")
        gated = [m.id for m in a.list_models(author=c.alice, gated=True)]
        check(c.gated in gated and repo not in gated, f"gated filter {gated}")
        full = [m for m in a.list_models(author=c.alice, full=True) if m.id == repo]
        check(bool(full) and bool(full[0].siblings), "full has siblings")

    def t_list_datasets() -> None:
        names = [d.id for d in a.list_datasets(author=c.alice)]
        check(c.dataset in names, f"{names}")

    return {
        "whoami": t_whoami,
        "auth_check": lambda: (a.auth_check(repo, write=True), None)[1],
        "get_full_repo_name": lambda: check(a.get_full_repo_name("x") == f"{c.alice}/x", "full name"),
        "create_repo": t_create_repo_case,
        "delete_repo": lambda: (lambda r: (a.delete_repo(r), check(not a.repo_exists(r), "gone")))(c.fresh()) and None,
        "move_repo": t_move,
        "duplicate_repo": t_duplicate,
        "update_repo_settings": lambda: (lambda r: (a.update_repo_settings(r, private=True),
                                                   check(a.model_info(r).private, "private")))(c.fresh()) and None,
        "repo_exists": lambda: check(a.repo_exists(repo) and not a.repo_exists(f"{c.alice}/nope"), "exists"),
        "revision_exists": lambda: check(a.revision_exists(repo, "main") and not a.revision_exists(repo, "nope"), "rev"),
        "file_exists": lambda: check(a.file_exists(repo, "config.json") and not a.file_exists(repo, "no"), "file"),
        "repo_info": lambda: check(a.repo_info(repo).id == repo, "id"),
        "model_info": t_model_info,
        "dataset_info": t_dataset_info,
        "list_models": t_list_models,
        "list_datasets": t_list_datasets,
        "list_repo_files": lambda: check(set(a.list_repo_files(repo)) >= {"config.json", "dir/a.txt"}, "files"),
        "list_repo_tree": t_list_repo_tree,
        "get_paths_info": t_get_paths_info,
        "list_repo_commits": t_list_repo_commits,
        "list_repo_refs": t_refs,
        "resolve_revision": lambda: check(len(a.resolve_revision(repo).resolved or "") == 40, "sha"),
        "get_hf_file_metadata": t_hf_file_metadata,
        "hf_hub_download": lambda: check(Path(a.hf_hub_download(repo, "config.json", cache_dir=c.tmp)).read_bytes()
                                         == b'{"model_type": "bert"}', "bytes"),
        "snapshot_download": lambda: check((Path(a.snapshot_download(c.dataset, repo_type="dataset",
                                            cache_dir=c.tmp)) / "data.csv").exists(), "snapshot"),
        "verify_repo_checksums": lambda: (lambda d: a.verify_repo_checksums(repo, local_dir=d))(
            a.snapshot_download(repo, local_dir=c.tmp / "snap")) and None,
        "upload_file": lambda: check(a.upload_file(path_or_fileobj=b"u", path_in_repo="u.txt", repo_id=c.fresh())
                                     is not None, "url"),
        "upload_folder": lambda: (lambda r: (a.upload_folder(repo_id=r, folder_path=_folder(c)),
                                             check("config.json" in a.list_repo_files(r), "uploaded")))(c.fresh()) and None,
        "create_commit": lambda: (lambda r: (a.create_commit(r, [CommitOperationCopy("f.txt", "g.txt"),
                                                                 CommitOperationDelete("f.txt")], commit_message="c"),
                                             check(a.list_repo_files(r) == [".gitattributes", "g.txt"],
                                                   str(a.list_repo_files(r)))))(c.fresh()) and None,
        "preupload_lfs_files": t_preupload,
        "delete_file": lambda: (lambda r: (a.delete_file("f.txt", r),
                                           check("f.txt" not in a.list_repo_files(r), "deleted")))(c.fresh()) and None,
        "delete_files": lambda: (lambda r: (a.delete_files(r, ["*.txt"]),
                                            check("f.txt" not in a.list_repo_files(r), "deleted")))(c.fresh()) and None,
        "delete_folder": lambda: (lambda r: (a.upload_file(path_or_fileobj=b"1", path_in_repo="d/x", repo_id=r),
                                             a.delete_folder("d", r),
                                             check("d/x" not in a.list_repo_files(r), "deleted")))(c.fresh()) and None,
        "copy_files": t_copy_files,
        "create_branch": lambda: (lambda r: (a.create_branch(r, branch="dev"),
                                             check("dev" in [x.name for x in a.list_repo_refs(r).branches], "dev")))(
                                                 c.fresh()) and None,
        "delete_branch": lambda: (lambda r: (a.create_branch(r, branch="dev"), a.delete_branch(r, branch="dev"),
                                             check([x.name for x in a.list_repo_refs(r).branches] == ["main"], "gone")))(
                                                 c.fresh()) and None,
        "create_tag": lambda: (lambda r: (a.create_tag(r, tag="v1", tag_message="m"),
                                          check([x.name for x in a.list_repo_refs(r).tags] == ["v1"], "tag")))(
                                              c.fresh()) and None,
        "delete_tag": lambda: (lambda r: (a.create_tag(r, tag="v1"), a.delete_tag(r, tag="v1"),
                                          check(a.list_repo_refs(r).tags == [], "gone")))(c.fresh()) and None,
        "super_squash_history": t_squash,
        "list_lfs_files": lambda: check([f.filename for f in a.list_lfs_files(repo)] == ["big.bin"], "lfs"),
        "permanently_delete_lfs_files": t_permanently_delete_lfs,
        "get_safetensors_metadata": lambda: (lambda r: check(a.get_safetensors_metadata(r).sharded is False, "st"))(
            _safetensors(c)),
        "parse_safetensors_file_metadata": lambda: check(
            "x" in a.parse_safetensors_file_metadata(_safetensors(c), "model.safetensors").tensors, "tensors"),
        "get_sharded_safetensors_metadata": lambda: check(
            a.get_sharded_safetensors_metadata(_sharded(c)).weight_map == {"x": "model-00001-of-00001.safetensors"},
            "weight map from the shard headers"),
        # discussions
        "create_discussion": lambda: check(a.create_discussion(repo, "A question", description="d").num > 0, "num"),
        "create_pull_request": lambda: check(a.create_pull_request(repo, "A draft change").is_pull_request, "pr"),
        "get_repo_discussions": t_discussions,
        "get_discussion_details": t_details,
        "comment_discussion": lambda: check(a.comment_discussion(repo, c.pr(repo), "c").content == "c", "content"),
        "edit_discussion_comment": lambda: (lambda n: check(
            a.edit_discussion_comment(repo, n, comment_id(repo, n), "new").content == "new", "edited"))(c.pr(repo)),
        "hide_discussion_comment": t_hide,
        "rename_discussion": lambda: check(a.rename_discussion(repo, c.pr(repo), "renamed").new_title == "renamed",
                                           "renamed"),
        "change_discussion_status": lambda: check(
            a.change_discussion_status(repo, c.pr(repo), "closed").new_status == "closed", "closed"),
        "merge_pull_request": lambda: (lambda r: (a.merge_pull_request(r, c.pr(r)),
                                                  check("pr.txt" in a.list_repo_files(r), "merged")))(c.fresh()) and None,
        "upload_attachment": t_upload_attachment,
        # access requests
        **{m: (lambda m=m: access_flow(m)) for m in (
            "list_pending_access_requests", "accept_access_request", "list_accepted_access_requests",
            "reject_access_request", "list_rejected_access_requests", "cancel_access_request")},
        "grant_access": lambda: (lambda r: (a.update_repo_settings(r, gated="manual"), a.grant_access(r, c.bob),
                                            check([x.username for x in a.list_accepted_access_requests(r)] == [c.bob],
                                                  "granted")))(c.fresh()) and None,
        # webhooks
        "create_webhook": lambda: check(c.hook().secret == "s3cret", "secret"),
        "get_webhook": lambda: check(a.get_webhook(c.hook().id).id == c.hook().id, "id"),
        "list_webhooks": lambda: check(c.hook().id in [w.id for w in a.list_webhooks()], "listed"),
        "update_webhook": t_hook_update,
        "disable_webhook": lambda: check(a.disable_webhook(c.hook().id).disabled, "disabled"),
        "enable_webhook": lambda: check(not a.enable_webhook(c.hook().id).disabled, "enabled"),
        "delete_webhook": lambda: (lambda w: (a.delete_webhook(w.id),
                                              check(w.id not in [x.id for x in a.list_webhooks()], "gone")))(
            a.create_webhook(url="http://127.0.0.1:9/x", watched=[WebhookWatchedItem(type="user", name=c.alice)]))
        and None,
        # collections
        "create_collection": lambda: check(c.coll().title == "Approved", "title"),
        "get_collection": lambda: check(a.get_collection(c.coll().slug).slug == c.coll().slug, "slug"),
        "list_collections": t_list_collections,
        "update_collection_metadata": lambda: check(
            a.update_collection_metadata(c.coll().slug, description="new").description == "new", "desc"),
        "add_collection_item": lambda: check(repo in [i.item_id for i in a.add_collection_item(
            c.coll().slug, repo, "model", note="n", exists_ok=True).items], "item"),
        "update_collection_item": lambda: (lambda col: (a.update_collection_item(col.slug, col.items[0].item_object_id,
                                                                               note="nn"),
                                                        check(a.get_collection(col.slug).items[0].note == "nn", "note")))(
            a.add_collection_item(c.coll().slug, c.dataset, "dataset", exists_ok=True)) and None,
        "delete_collection_item": lambda: (lambda col: (a.delete_collection_item(col.slug, col.items[-1].item_object_id),
                                                        check(len(a.get_collection(col.slug).items)
                                                              == len(col.items) - 1, "deleted")))(
            a.add_collection_item(c.coll().slug, c.gated, "model", exists_ok=True)) and None,
        "delete_collection": lambda: (lambda col: (a.delete_collection(col.slug),
                                                   check(col.slug not in [x.slug for x in a.list_collections(
                                                       owner=c.alice)], "gone")))(a.create_collection("tmp")) and None,
        # users, orgs, likes, tags
        "get_user_overview": t_user_overview,
        "get_organization_overview": t_org_overview,
        "list_organization_members": lambda: check(c.alice in [u.username for u in a.list_organization_members(c.org)],
                                                   "member"),
        "list_user_repos": lambda: check(repo in [r.id for r in a.list_user_repos(c.alice)], "repos"),
        "list_liked_repos": lambda: (t_like(), check(repo in b.list_liked_repos(c.bob).models, "liked"))[1],
        "list_repo_likers": lambda: (t_like(), check(c.bob in [u.username for u in a.list_repo_likers(repo)],
                                                     "liker"))[1],
        "unlike": lambda: (t_like(), b.unlike(repo), check(repo not in b.list_liked_repos(c.bob).models, "unliked"))[2],
        "get_model_tags": t_model_tags,
        "get_dataset_leaderboard": lambda: check(a.get_dataset_leaderboard(c.dataset) == [], "empty leaderboard"),
        "space_info": t_space,
        "list_spaces": t_list_spaces,
        "get_dataset_tags": lambda: check(isinstance(a.get_dataset_tags(), dict), "dict"),
        "run_as_future": lambda: check(a.run_as_future(a.whoami).result()["name"] == c.alice, "future"),
    }


def _folder(c: Ctx) -> Path:
    d = c.tmp / "folder"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text("{}")
    (d / "sub" / "x.txt").write_text("x")
    return d


def _safetensors(c: Ctx) -> str:
    if not hasattr(c, "_st"):
        header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
        body = struct.pack("<Q", len(header)) + header + b"\0\0\0\0"
        rid = c.fresh()
        c.api.upload_file(path_or_fileobj=body, path_in_repo="model.safetensors", repo_id=rid)
        c._st = rid  # type: ignore[attr-defined]
    return c._st  # type: ignore[attr-defined,no-any-return]


def _sharded(c: Ctx) -> str:
    rid = c.fresh()
    header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    body = struct.pack("<Q", len(header)) + header + b"\0\0\0\0"
    index = json.dumps({"metadata": {}, "weight_map": {"x": "model-00001-of-00001.safetensors"}}).encode()
    c.api.create_commit(rid, [CommitOperationAdd("model-00001-of-00001.safetensors", body),
                              CommitOperationAdd("model.safetensors.index.json", index)], commit_message="s")
    return rid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    methods = sorted(n for n, v in inspect.getmembers(HfApi) if not n.startswith("_") and callable(v))
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        data.mkdir()
        server = LiveServer(data).start()
        try:
            c = Ctx(server)
            calls = survey(c)
            rows: list[tuple[str, str, str]] = []
            only = {x for x in args.only.split(",") if x}
            for m in methods:
                if only and m not in only:
                    continue
                if m in SAAS:
                    rows.append((m, "saas", SAAS[m]))
                    continue
                if m not in calls:
                    rows.append((m, "error", "the survey has no call for it"))
                    continue
                t = time.time()
                try:
                    calls[m]()
                    rows.append((m, "works", ""))
                except Wrong as e:
                    rows.append((m, "wrong", str(e)))
                except Exception as e:  # noqa: BLE001 - a survey records every failure
                    msg = " ".join(f"{type(e).__name__}: {e}".split())
                    rows.append((m, "error", msg[:160]))
                    if args.verbose:
                        traceback.print_exc()
                if time.time() - t > 20:
                    rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2] + f" ({time.time() - t:.0f} s)")
        finally:
            server.close()
    w = max(len(r[0]) for r in rows)
    for m, k, note in rows:
        print(f"{m:<{w}}  {k:<5}  {note}")
    counts = {k: sum(1 for r in rows if r[1] == k) for k in ("works", "wrong", "error", "saas")}
    print(f"\n{len(rows)} methods: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
