"""Settings: one frozen object, built from arguments or INHOUSE_* environment variables. No global instance."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything inhouse can be configured with. Each field has an INHOUSE_<NAME> environment variable."""

    data_dir: Path = Path("./inhouse-data")
    """Folder holding the SQLite database (by default), large-file content and generated secrets."""
    database_url: str = ""
    """SQLAlchemy-style URL: `sqlite:///path.db` or `postgresql://user@host:5432/db`. Empty: SQLite in data_dir."""
    host: str = "127.0.0.1"
    """Address `inhouse serve` listens on."""
    port: int = 8000
    """Port `inhouse serve` listens on."""
    public_url: str = ""
    """Base URL clients use to reach this server (for absolute links). Empty: taken from each request's Host,
    which must then be one the server answers to (see allowed_hosts)."""
    allowed_hosts: str = ""
    """Without public_url: extra Host names (comma-separated, `name` or `name:port`; `*` for any) accepted besides
    the address a client connected to (and `localhost` on a loopback address); other Hosts get 400."""
    trusted_proxies: str = ""
    """Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed. Empty:
    those headers are ignored and the connecting address is the client."""
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and headers) accepted; larger ones get 431."""
    header_timeout_s: int = 30
    """Time a client has to send a whole request head; slower connections are closed (408)."""
    body_idle_timeout_s: int = 30
    """A request body that sends no byte for this long is cut off with 408 (also the grace period of
    body_min_bytes_per_s)."""
    body_min_bytes_per_s: int = 1024
    """Slowest average rate a request body may arrive at (after the grace period) before it is cut off with 408."""
    auth_failure_limit: int = 20
    """Failed token checks one client address may make within auth_failure_window_s before it gets 429."""
    auth_failure_window_s: int = 300
    """Window of auth_failure_limit, in seconds; the 429 says when to retry (Retry-After)."""
    max_commit_bytes: int = 512 * MiB
    """Largest NDJSON commit body accepted (regular files travel base64-encoded inside it)."""
    max_commit_operations: int = 100_000
    """Most file operations (adds, deletes) one commit may hold; larger changes go in several commits."""
    git_max_push_bytes: int = 2 * 1024 * MiB
    """Largest `git push` body (the pack, after gzip decoding) accepted; a larger push is refused with 413 (push in
    several parts, or put large files in git-lfs)."""
    git_max_blob_bytes: int = 10 * MiB
    """Largest object (file) a `git push` may hold, as the Hub: larger files go through git-lfs; the push is refused
    with the git-lfs commands that fix it."""
    git_max_push_objects: int = 1_000_000
    """Most objects (commits, trees, files) one `git push` may hold; push a longer history in several parts."""
    max_json_bytes: int = 16 * MiB
    """Largest JSON request body accepted by the other API calls."""
    regular_file_max_bytes: int = 10 * MiB
    """Files larger than this are asked to go through the large-file (LFS) path at preupload."""
    attachment_max_bytes: int = 10 * MiB
    """Largest image or audio file `upload_attachment` (POST /uploads) takes for a discussion comment, as the Hub."""
    attachment_video_max_bytes: int = 50 * MiB
    """Largest video file `upload_attachment` takes (MP4, MOV, WebM), as the Hub."""
    lfs_part_size: int = 64 * MiB
    """Part size offered to clients for multipart LFS uploads."""
    upload_url_ttl_s: int = 24 * 3600
    """How long a signed LFS upload URL stays valid."""
    max_lfs_object_bytes: int = 500 * 1024 * MiB
    """Largest file the LFS batch API takes for upload (500 GiB); larger ones are refused per object (422)."""
    last_commit_max_commits: int = 2000
    """Most commits one `expand` answer (paths-info, tree?expand=true) walks back to find each path's last commit;
    paths not settled by then are answered without lastCommit."""
    last_commit_max_tree_entries: int = 1_000_000
    """Most tree entries one `expand` answer reads while walking history (a 1,000-file folder changed in 1,000
    commits); paths not settled by then are answered without lastCommit."""
    audit_enabled: bool = True
    """Record changes and reads of private/gated artifacts in the hash-chained audit log (off only for benchmarks)."""
    audit_checkpoint_interval_s: int = 60
    """How often the server signs the audit log's head into data_dir/audit/checkpoints.jsonl."""
    job_executor: str = "local"
    """Where job tasks run: `local` (worker subprocesses on this machine) or `ray` (a Ray cluster; the `ray` extra)."""
    ray_address: str = ""
    """With job_executor `ray`: the cluster to join (`ray://head:10001` or `auto`). Empty: a local Ray instance."""
    job_workers: int = 1
    """Most job tasks running at once (worker processes on this machine, or Ray tasks in flight)."""
    job_max_attempts: int = 2
    """Times a task is started before a server restart that interrupts it fails it instead of queueing it again."""
    job_max_log_lines: int = 10_000
    """Most log lines kept per job (each at most 4 KB); the last one kept says that later lines were dropped."""
    worker_python: str = ""
    """Python interpreter that runs workers (`python -m inhouse.ml.worker`; needs the `ml` extra). Empty: the
    server's own."""
    worker_endpoint: str = ""
    """URL workers reach this hub at, to load models and data. Empty: public_url, else http://HOST:PORT (127.0.0.1
    when listening on all addresses)."""
    worker_memory_bytes: int = 0
    """Address-space limit of each worker process (RLIMIT_AS); a task past it fails as out of memory. 0: none."""
    worker_threads: int = 0
    """Threads each worker may use for inference (torch, BLAS, tokenizers). 0: every core."""
    job_max_unfinished_per_user: int = 10
    """Most jobs (evaluations, variant saves) one user may have queued or running at once; more are refused (429)
    until some end or are cancelled, so one user cannot queue the workers away from everyone else."""
    eval_max_candidates: int = 20
    """Most candidate models one evaluation may list."""
    eval_max_examples: int = 20_000
    """Most dataset examples one evaluation may score per candidate (the rest of the split is not read)."""
    eval_max_resamples: int = 5_000
    """Most bootstrap resamples an evaluation may ask for (per metric)."""
    eval_price_per_hour: float = 1.0
    """Price of one hour of the hardware workers run on (cost per million requests = price / 3600 / throughput
    x 10^6), used when an evaluation names none."""
    eval_token_lifetime_s: int = 86_400
    """Lifetime of the scoped token each evaluation task gets (revoked when the task ends)."""
    new_repos_private: bool = False
    """Whether a repo created without saying public or private is private (an organisation's own setting,
    `inhouse orgs set-default-private`, takes precedence for its repos)."""
    webhook_timeout_s: int = 10
    """Seconds a webhook receiver has to answer a delivery; a slower one counts as a failed attempt (retried)."""
    webhook_max_attempts: int = 20
    """Attempts per webhook delivery before it is marked failed (the repo's later events wait behind it until it
    is resent or the webhook re-enabled)."""
    webhook_retry_base_ms: int = 1000
    """Wait before the second attempt of a delivery, doubled after each failed attempt."""
    webhook_retry_max_s: int = 3600
    """Longest wait between two attempts of a delivery."""
    webhook_max_per_user: int = 100
    """Webhooks one user may have."""
    webhook_workers: int = 4
    """Deliveries sent at once (to different webhooks or repos; one repo's events go to a webhook one by one)."""
    webhook_log_days: int = 30
    """Days a delivered (or skipped) webhook delivery stays in the delivery log; 0 keeps them."""
    scan_timeout_s: float = 120.0
    """Seconds one file's scan (by one scanner, in the scanner process) may take before the process is killed and the
    file's result is an error (which a policy's `on_error` decides on: quarantine by default)."""
    scan_max_memory_bytes: int = 4 * 1024 * MiB
    """Address-space limit of the scanner process (RLIMIT_AS); a scan that needs more fails as an error."""
    secret_key: str = field(default="", repr=False)
    """Key signing upload URLs. Empty: generated once and kept in data_dir/secret.key."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'inhouse.db').resolve()}"

    @property
    def resolved_worker_endpoint(self) -> str:
        if self.worker_endpoint:
            return self.worker_endpoint.rstrip("/")
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, then INHOUSE_* variables, then explicit keyword overrides (those that are not None)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for name, f in cls.__dataclass_fields__.items():
            raw = env.get(f"INHOUSE_{name.upper()}")
            if raw is None:
                continue
            default = f.default
            if isinstance(default, bool):
                values[name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[name] = int(raw)
            elif isinstance(default, float):
                values[name] = float(raw)
            elif isinstance(default, Path):
                values[name] = Path(raw)
            else:
                values[name] = raw
        for k, v in overrides.items():
            if v is not None:
                values[k] = Path(v) if k == "data_dir" else v
        return replace(cls(), **values)
