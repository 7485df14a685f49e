"""The metadata schema, one SQLAlchemy Core definition for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(96), nullable=False, unique=True),
    Column("fullname", String(200), nullable=False, default=""),
    Column("email", String(320), nullable=True),
    Column("kind", String(8), nullable=False, default="user"),  # user | org
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    # organisations: new repos are private unless asked otherwise (None: the site-wide INHOUSE_NEW_REPOS_PRIVATE)
    Column("default_private", Boolean, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # read | write
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),  # first characters, for listings
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Column("scopes", Text, nullable=True),  # fine-grained tokens: JSON [{"type","name","permissions":[…]}]
)

repos = Table(
    "repos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(8), nullable=False),  # model | dataset | space
    Column("namespace", String(96), nullable=False),
    Column("name", String(96), nullable=False),
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("gated", String(8), nullable=True),  # None | auto | manual
    Column("created_at", Float, nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("head_sha", String(40), nullable=True),  # head of the default branch, for listings
    Column("card_data", Text, nullable=True),  # JSON
    Column("tags", Text, nullable=False, default="[]"),  # JSON list
    # free text from the model card: unbounded, as SQLite stores it (a VARCHAR(n) made PostgreSQL reject commits)
    Column("pipeline_tag", Text, nullable=True),
    Column("library_name", Text, nullable=True),
    Column("license", Text, nullable=True),
    Column("downloads", Integer, nullable=False, default=0),
    Column("likes", Integer, nullable=False, default=0),
    Column("next_discussion", Integer, nullable=False, default=1),
    # governance (issue 10): the lifecycle stage (None: draft), read with the repo so that a withdrawn model's
    # downloads are refused without another query; the details live in repo_stages
    Column("stage", String(16), nullable=True),
    # how many files a policy holds back in the repo (active quarantined_files rows; None: none): a download from a
    # repo without any reads no quarantine row
    Column("quarantined", Integer, nullable=True),
    UniqueConstraint("type", "namespace", "name", name="uq_repo_id"),
)
Index("ix_repos_last_modified", repos.c.last_modified)
Index("ix_repos_type_modified", repos.c.type, repos.c.last_modified)  # listings: newest first, stop at limit
Index("ix_repos_lower_name", repos.c.type, repos.c.name)
# repo ids are case-insensitive (storage/db/repos.find_repo): a lookup in another case, or of a missing repo, is an
# index search too, not a scan
Index("ix_repos_lower_id", repos.c.type, func.lower(repos.c.namespace), func.lower(repos.c.name))

repo_aliases = Table(
    "repo_aliases",
    metadata,
    Column("type", String(8), primary_key=True),
    Column("namespace", String(96), primary_key=True),
    Column("name", String(96), primary_key=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
)

refs = Table(
    "refs",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),  # refs/heads/main, refs/tags/v1, refs/pr/1
    Column("target", String(40), nullable=False),
    Column("updated_at", Float, nullable=False),
)

git_objects = Table(
    "git_objects",
    metadata,
    Column("sha", String(40), primary_key=True),
    Column("kind", String(8), nullable=False),  # blob | tree | commit | tag
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # zlib-compressed object body (without the git header)
)

lfs_objects = Table(
    "lfs_objects",
    metadata,
    Column("oid", String(64), primary_key=True),  # sha256 hex
    Column("size", BigInteger, nullable=False),  # large files exceed 2 GiB (PostgreSQL INTEGER's limit)
    Column("created_at", Float, nullable=False),
)

repo_lfs_objects = Table(
    "repo_lfs_objects",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("oid", String(64), ForeignKey("lfs_objects.oid"), primary_key=True),
    Column("pushed_at", Float, nullable=True),  # when the repo first received it (None: before revision 0006)
)

discussions = Table(
    "discussions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("num", Integer, nullable=False),
    Column("title", Text, nullable=False),  # a PR's title is its commit summary, of any length
    Column("description", Text, nullable=False, default=""),
    Column("is_pr", Boolean, nullable=False),
    Column("status", String(8), nullable=False),  # open | closed | merged | draft
    Column("author_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("base_ref", String(255), nullable=True),
    Column("merge_commit", String(40), nullable=True),
    UniqueConstraint("repo_id", "num", name="uq_discussion_num"),
)

discussion_events = Table(
    "discussion_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("discussion_id", Integer, ForeignKey("discussions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("type", String(32), nullable=False),  # comment | status-change | commit | title-change
    Column("author_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("data", Text, nullable=False, default="{}"),  # JSON
)

repo_commits = Table(
    "repo_commits",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("sha", String(40), primary_key=True),
)

# organisations, resource groups (teams), gated access, audit ----------------------------------------------------

org_members = Table(
    "org_members",
    metadata,
    Column("org_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),  # read | contributor | write | admin
    Column("created_at", Float, nullable=False),
)

resource_groups = Table(
    "resource_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(96), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_resource_group_name"),
)

resource_group_members = Table(
    "resource_group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("resource_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
)

resource_group_repos = Table(
    "resource_group_repos",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),  # one group a repo
    Column("group_id", Integer, ForeignKey("resource_groups.id", ondelete="CASCADE"), nullable=False, index=True),
)

access_requests = Table(
    "access_requests",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(10), nullable=False),  # pending | accepted | rejected
    Column("fields", Text, nullable=False, default="{}"),  # JSON answers to the gating form
    Column("reason", Text, nullable=True),  # rejection reason
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # contiguous from 1: a gap is a deletion
    Column("ts", Float, nullable=False),
    Column("actor", String(96), nullable=True),
    Column("token_id", Integer, nullable=True),
    Column("action", String(64), nullable=False),
    Column("repo", String(220), nullable=True),  # "model:ns/name"
    Column("revision", String(255), nullable=True),
    Column("path", Text, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("outcome", String(16), nullable=False),  # ok | denied | error
    Column("details", Text, nullable=False, default="{}"),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
# a repo's entries, newest first (factsheets read the newest N of one repo without sorting all of them)
Index("ix_audit_repo_seq", audit_log.c.repo, audit_log.c.seq)
Index("ix_audit_actor", audit_log.c.actor)
Index("ix_audit_ts", audit_log.c.ts)

# Xet storage: xorbs (chunk containers), files (chunk ranges of xorbs), global dedup keys, who holds what ---------

xet_xorbs = Table(
    "xet_xorbs",
    metadata,
    Column("hash", String(64), primary_key=True),  # Xet hash, API hex form
    Column("num_chunks", Integer, nullable=False),
    Column("unpacked_bytes", BigInteger, nullable=False),
    Column("stored_bytes", BigInteger, nullable=False),  # serialized length on disk
    Column("chunks", LargeBinary, nullable=False),  # per chunk: hash[32] | offset u32 | unpacked size u32
    Column("created_at", Float, nullable=False),
    # last time an upload, a shard, a conversion or a dedup answer used it: GC keeps recently used xorbs
    Column("used_at", Float, nullable=False),
)

xet_files = Table(
    "xet_files",
    metadata,
    Column("file_hash", String(64), primary_key=True),  # Xet file hash, API hex form
    Column("sha256", String(64), nullable=False, index=True),  # verified: the LFS oid of this content
    Column("size", BigInteger, nullable=False),
    Column("segments", LargeBinary, nullable=False),  # per segment: xorb[32] | start u32 | end u32 | bytes u64
    Column("created_at", Float, nullable=False),
)

xet_dedup = Table(
    "xet_dedup",
    metadata,
    Column("chunk_hash", String(64), primary_key=True),  # a global-dedup key chunk
    Column("xorb_hash", String(64), primary_key=True),
)

repo_xorbs = Table(
    "repo_xorbs",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("xorb_hash", String(64), primary_key=True, index=True),
    Column("created_at", Float, nullable=False),
)

# Xorbs a user may name in a shard whatever repo holds them (their clients' Xet caches remember them): those the user
# uploaded (for as long as the server keeps them) and those a dedup answer named to them (until it expires).
user_xorbs = Table(
    "user_xorbs",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("xorb_hash", String(64), primary_key=True, index=True),
    Column("uploaded_at", Float, nullable=True),  # the user sent this xorb's bytes (last time)
    Column("answered_until", Float, nullable=True),  # a dedup answer named it to the user, valid until then
)

# Per user, the path segment of the CAS URL their write tokens name (hf_xet keeps one cache per CAS URL); dropped
# when storage GC deletes xorbs the user's caches may name, so that their next upload starts a fresh cache.
user_xet_caches = Table(
    "user_xet_caches",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)

# Jobs (inhouse.jobs): the rows are the truth; the dispatcher claims queued tasks, runs them and writes back -------

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),  # which handler runs it: selftest | evaluation | variant.save …
    Column("state", String(16), nullable=False),  # queued | running | succeeded | failed | cancelled
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("spec", Text, nullable=False),  # JSON: what was asked
    Column("result", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),
    Column("progress", Float, nullable=False, default=0.0),  # 0..1, the mean of its tasks'
    Column("eta_s", Float, nullable=True),
    Column("message", Text, nullable=False, default=""),  # the latest stage, for listings
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("cancel_requested_at", Float, nullable=True),
    Column("executor", String(16), nullable=False),  # local | ray
)
Index("ix_jobs_owner", jobs.c.owner_id, jobs.c.id)
Index("ix_jobs_state", jobs.c.state)

job_tasks = Table(
    "job_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the job, from 0
    Column("name", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | succeeded | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),  # times a dispatcher started it
    Column("spec", Text, nullable=False),  # JSON
    Column("result", Text, nullable=True),  # JSON
    Column("error_code", String(32), nullable=True),  # bad-input | wrong-task | not-found | out-of-memory | crashed …
    Column("error", Text, nullable=True),
    Column("progress", Float, nullable=False, default=0.0),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("runner", String(64), nullable=True),  # the dispatcher instance running it
    UniqueConstraint("job_id", "seq", name="uq_job_task_seq"),
)
Index("ix_job_tasks_state", job_tasks.c.state)

job_logs = Table(
    "job_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("task_id", Integer, ForeignKey("job_tasks.id", ondelete="CASCADE"), nullable=True),
    Column("at", Float, nullable=False),
    Column("level", String(8), nullable=False),  # info | warning | error
    Column("message", Text, nullable=False),  # at most jobs.MAX_LOG_LINE characters
)
Index("ix_job_logs_job", job_logs.c.job_id, job_logs.c.id)

# One row per (candidate model, variant) an evaluation measured: quality with its interval, cost, machine.
evaluation_results = Table(
    "evaluation_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("task_id", Integer, ForeignKey("job_tasks.id", ondelete="CASCADE"), nullable=True),
    Column("task", String(64), nullable=False),  # the task family: text-classification …
    Column("dataset_repo_id", String(200), nullable=False),
    Column("dataset_revision", String(64), nullable=False),  # commit sha
    Column("dataset_config", String(200), nullable=True),
    Column("dataset_split", String(200), nullable=False),
    Column("model_repo_id", String(200), nullable=False),
    Column("model_revision", String(64), nullable=True),  # commit sha (None: the repo could not be read)
    Column("variant", String(32), nullable=False),  # original | int8 | onnx | onnx-int8
    Column("status", String(16), nullable=False),  # ok | failed | skipped
    Column("error", Text, nullable=True),
    Column("quality", Float, nullable=True),  # the task's primary metric
    Column("metrics", Text, nullable=False, default="{}"),  # JSON {name: {value, low, high}}
    Column("cost", Text, nullable=False, default="{}"),  # JSON
    Column("machine", Text, nullable=False, default="{}"),  # JSON
    Column("created_at", Float, nullable=False),
)
Index("ix_evaluation_results_dataset", evaluation_results.c.task, evaluation_results.c.dataset_repo_id,
      evaluation_results.c.dataset_revision)
Index("ix_evaluation_results_job", evaluation_results.c.job_id)

# The eval-results index (services/evaluations/eval_results.py): the `.eval_results/*.yaml` entries of each model
# repo's default branch, read from the head `eval_result_index.commit` names ("" for a repo without commits), so a
# dataset's leaderboard is one query. A repo whose head moved since is read again before a leaderboard answers.
eval_result_index = Table(
    "eval_result_index",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("commit", String(40), nullable=False),
    Column("updated_at", Float, nullable=False),
)

eval_result_entries = Table(
    "eval_result_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("filename", Text, nullable=False),  # .eval_results/<name>.yaml
    Column("dataset_id", String(200), nullable=False),  # dataset.id as the entry names it
    Column("task_id", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("data", Text, nullable=False),  # the entry (validated, JSON); verified or not is decided when served
)
Index("ix_eval_result_entries_dataset", eval_result_entries.c.dataset_id, eval_result_entries.c.id)
Index("ix_eval_result_entries_repo", eval_result_entries.c.repo_id)

# Issue 9: webhooks and their deliveries, collections, likes, download counts -----------------------------------

# A user's webhooks (/api/settings/webhooks): what they watch (JSON [{"type": user|org|model|dataset|space,
# "name"}]), which domains (JSON ["repo", "discussion"]), where to and with which secret.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),  # the id the API shows
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=True),
    Column("watched", Text, nullable=False, default="[]"),
    Column("domains", Text, nullable=False, default="[]"),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The outbox and the delivery log in one: a row is written in the transaction of the change it reports, then
# delivered (in order per webhook and repo) by the runtime's webhook worker process, retried with back-off.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("repo_key", String(220), nullable=False),  # the ordering key: "model:ns/name"
    Column("event", String(64), nullable=False),  # scope.action, e.g. repo.content.update
    Column("payload", Text, nullable=False),  # the JSON body sent
    Column("status", String(12), nullable=False),  # queued | pending | delivered | failed | skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_status", Integer, nullable=True),  # the receiver's HTTP status
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
Index("ix_webhook_deliveries_hook", webhook_deliveries.c.webhook_id, webhook_deliveries.c.id)
# a (webhook, repo) queue: is anything of it undone, which of it is next
Index("ix_webhook_deliveries_group", webhook_deliveries.c.webhook_id, webhook_deliveries.c.repo_key,
      webhook_deliveries.c.status, webhook_deliveries.c.id)

# Collections: curated, ordered lists of repos (and papers, other collections) with notes.
collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(300), nullable=False, unique=True),  # "namespace/title-slug-<hex id>"
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("theme", String(16), nullable=False, default="default"),
    Column("position", Integer, nullable=False, default=0),
    Column("upvotes", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

collection_items = Table(
    "collection_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),  # item_object_id
    Column("collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    Column("item_type", String(16), nullable=False),  # model | dataset | space | paper | collection
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=True),  # repos follow renames
    Column("item_ref", Text, nullable=True),  # a paper id or a collection slug
    Column("position", Integer, nullable=False),
    Column("note", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)
Index("ix_collection_items_collection", collection_items.c.collection_id, collection_items.c.position)
Index("ix_collection_items_repo", collection_items.c.repo_id)  # which collections hold a repo; its delete cascades

repo_likes = Table(
    "repo_likes",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Float, nullable=False),
)
Index("ix_repo_likes_user", repo_likes.c.user_id)

# Downloads as the Hub counts them, one row per repo and UTC day (days since the epoch): `downloads` is the sum
# of the last 30 days, repos.downloads the all-time count.
repo_downloads = Table(
    "repo_downloads",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)


# Issue 10: governance -- policies, scans, quarantine, evaluations, lifecycle, approvals, use cases --------------

# An organisation's policy document (YAML), one row per version; the newest is in force. Rows are never changed
# or deleted: the history is the record of what applied when.
org_policies = Table(
    "org_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("author_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("org_id", "version", name="uq_org_policy_version"),
)

# What one scanner found in one file content, kept by content ("sha256:<hex>" for large files, "git:<sha1>" for
# the others): the same bytes are never scanned twice by the same scanner version. Findings are counts, rule
# names, globals and column names: never the values found.
file_scans = Table(
    "file_scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_key", String(80), nullable=False),
    Column("scanner", String(32), nullable=False),  # pickle | personal_data | secrets
    Column("scanner_version", String(32), nullable=False),
    Column("status", String(12), nullable=False),  # clean | findings | error
    Column("findings", Text, nullable=False, default="{}"),  # JSON
    Column("size", BigInteger, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("scanned_at", Float, nullable=False),
    UniqueConstraint("content_key", "scanner", "scanner_version", name="uq_file_scan"),
)

# A file a policy holds back in one repo: its content is not served from this repo until released.
quarantined_files = Table(
    "quarantined_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("content_key", String(80), nullable=False),
    Column("path", Text, nullable=False),
    Column("commit", String(40), nullable=True),
    Column("rule", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("released_at", Float, nullable=True),
    Column("released_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("release_reason", Text, nullable=True),
)
Index("ix_quarantined_files_repo", quarantined_files.c.repo_id, quarantined_files.c.content_key)

# Every policy evaluation of a commit, push, merge or recheck: which policy version, what came out, the findings.
policy_evaluations = Table(
    "policy_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("policy_org_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("policy_version", Integer, nullable=True),  # None: no policy applied
    Column("trigger", String(16), nullable=False),  # commit | push | merge | recheck
    Column("ref", Text, nullable=True),
    Column("commit", String(40), nullable=True),  # None: refused before the commit existed
    Column("outcome", String(12), nullable=False),  # allow | approval | quarantine | deny
    Column("findings", Text, nullable=False, default="[]"),  # JSON
    Column("actor_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Float, nullable=False),
)
Index("ix_policy_evaluations_repo", policy_evaluations.c.repo_id, policy_evaluations.c.id)
Index("ix_policy_evaluations_commit", policy_evaluations.c.repo_id, policy_evaluations.c.commit)

# A model's lifecycle: the stage (also on repos.stage), the revision it applies to, what replaces a withdrawn or
# deprecated model, and the request that put it there.
repo_stages = Table(
    "repo_stages",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("stage", String(16), nullable=False),
    Column("revision", String(40), nullable=True),
    Column("replacement", Text, nullable=True),  # "namespace/name" of the model to use instead
    Column("request_id", Integer, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)

# A request someone else must approve: a promotion to a stage, or a change a policy holds (a pull request's
# commit). Numbered per repo.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # promotion | change
    Column("target", String(64), nullable=False),  # promotion: the stage; change: "refs/pr/N"
    Column("revision", String(40), nullable=True),
    Column("author_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("status", String(12), nullable=False),  # open | approved | rejected | cancelled | superseded
    Column("approvals_required", Integer, nullable=False),
    Column("approver_roles", Text, nullable=False, default="[]"),  # JSON
    Column("replacement", Text, nullable=True),
    Column("details", Text, nullable=False, default="{}"),  # JSON: findings, use cases, policy version
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    UniqueConstraint("repo_id", "number", name="uq_approval_request_number"),
)
Index("ix_approval_requests_status", approval_requests.c.repo_id, approval_requests.c.status)

approval_reviews = Table(
    "approval_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("approval_requests.id", ondelete="CASCADE"), nullable=False),
    Column("reviewer_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("decision", String(8), nullable=False),  # approve | reject
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("request_id", "reviewer_id", name="uq_approval_review"),
)

# Use cases above models: who owns it, what for, how risky, and which models serve it.
use_cases = Table(
    "use_cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("slug", String(96), nullable=False),
    Column("title", Text, nullable=False),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("purpose", Text, nullable=False, default=""),
    Column("risk_tier", String(16), nullable=False),  # minimal | limited | high | unacceptable
    Column("status", String(16), nullable=False),  # proposed | active | retired
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("org_id", "slug", name="uq_use_case_slug"),
)

use_case_models = Table(
    "use_case_models",
    metadata,
    Column("use_case_id", Integer, ForeignKey("use_cases.id", ondelete="CASCADE"), primary_key=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("added_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("added_at", Float, nullable=False),
)
Index("ix_use_case_models_repo", use_case_models.c.repo_id)
