"""File scans for policy evaluation: which scanners a changed file needs, and their results, cached by content.

`run_scans` answers content key -> scanner -> `ScanResult` for the files a change adds or changes:
- results already in file_scans for the same bytes and scanner version are reused (never scanned twice);
- secrets in small (non-LFS) files are scanned in this process (pure stdlib, linear regexes);
- everything else (pickles, personal data, secrets in large files) runs in the scanner process
  (`python -m inhouse.scanners`), with an address-space and CPU limit and a wall timeout per scan. The process
  is started only when some file needs it.
A (file, scanner) the process gave no answer for (it crashed, ran out of memory or time) is a result with status
"error" and a message saying what happened, never a clean one. Errors are not cached: a crash may be transient,
and the next change with the same bytes scans them again. Scan results are policy-independent where they can be
(pickles are scanned against the built-in allowlist and a policy's `extra_safe_globals` are applied to the cached
result); options that change what a scanner reports (personal-data entities, rows) are part of the cached version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

from inhouse.errors import InhouseError
from inhouse.scanners import VERSIONS, load
from inhouse.scanners.base import ScanOutcome
from inhouse.services.context import Stores
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.largefiles.xet_content import read_lfs
from inhouse.storage.db import scans as scan_store
from inhouse.vocabulary import RepoType, Scanner

# What each scanner looks at, by file name (lower-cased suffix).
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".npy", ".npz",
                             ".zip", ".mar", ".model", ".tar"})
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"})
# Large (LFS) files are scanned for secrets only when they are text; small files always (in this process).
TEXT_SUFFIXES = frozenset({".txt", ".md", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".yaml", ".yml", ".toml",
                           ".ini", ".cfg", ".conf", ".env", ".py", ".sh", ".ipynb", ".js", ".ts", ".xml", ".html"})
MAX_ROWS_CAP = 100_000  # rows a personal-data scan may sample per file, whatever a policy asks
MAX_LINE_BYTES = 1024 * 1024  # a longer line from the scanner process breaks the protocol
NO_PROCESS = "the scanner process could not be started"
CHILD_ENV = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME", "PYTHONPATH", "VIRTUAL_ENV"})


@dataclass(frozen=True)
class ScanTarget:
    """One added or changed file."""

    path: str  # repo path
    content_key: str  # "sha256:<hex>" (large file) | "git:<sha1>" (small file)
    size: int
    data: bytes | None = field(default=None, repr=False)  # small files' bytes; None: a large file, read from storage


@dataclass(frozen=True)
class ScanResult:
    scanner: Scanner
    version: str
    status: str  # clean | findings | error
    findings: dict[str, Any]
    error: str | None


COMPRESSION_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".lzma", ".z"})  # x.pkl.gz: pandas and joblib read these


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def _is_pickle_name(path: str) -> bool:
    suffixes = [x.lower() for x in PurePosixPath(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in PICKLE_SUFFIXES


# What a pickle-based file begins with: PROTO 2-5 (pickles, legacy torch checkpoints), a zip's local header (torch
# checkpoints, .npz), numpy's magic; protocol 0 and 1 pickles have no magic and are found by their names only.
PICKLE_MAGICS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04", b"\x93NUMPY")


def _starts_like_a_pickle(stores: Stores, target: ScanTarget) -> bool:
    """Does the file begin as a pickle-based format does, whatever its name? Reads its first bytes (a large file's
    from storage; one that cannot be read is left to its name)."""
    if target.data is not None:
        head = target.data[:6]
    else:
        try:
            head = b"".join(read_lfs(stores, target.content_key.removeprefix("sha256:"), 0, 6))
        except (InhouseError, OSError):  # bytes missing: not this check's to report
            return False
    return head.startswith(PICKLE_MAGICS)


def scanners_for(policy: Policy, repo_type: RepoType, target: ScanTarget) -> list[Scanner]:
    """The scanners `target` needs under `policy` (pickles are always scanned: their findings are shown even where
    the policy allows them)."""
    suffix = _suffix(target.path)
    out: list[Scanner] = []
    if _is_pickle_name(target.path):
        out.append(Scanner.PICKLE)
    pd = policy.personal_data
    if pd is not None and suffix in TABLE_SUFFIXES and repo_type in pd.repo_types:
        out.append(Scanner.PERSONAL_DATA)
    if policy.secrets is not None and (target.data is not None or suffix in TEXT_SUFFIXES):
        out.append(Scanner.SECRETS)
    return out


def _options(policy: Policy, scanner: Scanner) -> dict[str, Any]:
    """What the scanner process is told; only options that change a scanner's findings for the same bytes."""
    pd = policy.personal_data
    if scanner is Scanner.PERSONAL_DATA and pd is not None:
        return {"entities": sorted(pd.entities), "max_rows": max(1, min(int(pd.max_rows), MAX_ROWS_CAP))}
    return {}


def _version(scanner: Scanner, options: dict[str, Any]) -> str:
    """The cache's version of a scan: the scanner's VERSION, plus a digest of the options that shape its result."""
    if not options:
        return VERSIONS[scanner]
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    return f"{VERSIONS[scanner]}+{digest}"


def _error(scanner: Scanner, version: str, message: str) -> ScanResult:
    return ScanResult(scanner, version, "error", {}, message)


def _apply_policy(result: ScanResult, policy: Policy) -> ScanResult:
    """A pickle result under the policy's extra safe globals: those imports are no longer unsafe."""
    extra = policy.pickles.extra_safe_globals
    if result.scanner is not Scanner.PICKLE or result.status != "findings" or not extra:
        return result
    unsafe = [u for u in result.findings.get("unsafe") or [] if u.get("global") not in extra]
    findings = {**result.findings, "unsafe": unsafe}
    return ScanResult(result.scanner, result.version, "findings" if unsafe else "clean", findings, result.error)


def run_scans(stores: Stores, targets: list[ScanTarget], policy: Policy, repo_type: RepoType
              ) -> dict[str, dict[Scanner, ScanResult]]:
    """content key -> scanner -> result, for the scanners each target needs (targets needing none are absent)."""
    wanted: dict[str, tuple[ScanTarget, list[Scanner]]] = {}
    for t in targets:
        names = scanners_for(policy, repo_type, t)
        if Scanner.PICKLE not in names and _starts_like_a_pickle(stores, t):
            names = [Scanner.PICKLE, *names]  # a loader reads it whatever its name: torch.load("weights")
        if not names:
            continue
        if t.content_key in wanted:  # the same bytes at two paths: scanned once, by every scanner either needs
            first, before = wanted[t.content_key]
            names = before + [s for s in names if s not in before]
            t = first if first.data is not None or t.data is None else t
        wanted[t.content_key] = (t, names)
    if not wanted:
        return {}
    options = {s: _options(policy, s) for s in Scanner}
    versions = {s: _version(s, options[s]) for s in Scanner}
    results: dict[str, dict[Scanner, ScanResult]] = {k: {} for k in wanted}
    # a small file only scanned for secrets (here, in microseconds) is never looked up: the lookup would cost more
    here_only = {k for k, (t, names) in wanted.items() if names == [Scanner.SECRETS] and t.data is not None}
    cached: dict[str, list[scan_store.ScanRecord]] = {}
    if len(here_only) < len(wanted):
        with stores.db.read() as conn:
            cached = scan_store.get_scans(conn, [k for k in wanted if k not in here_only])
    for key, records in cached.items():
        for r in records:
            s = Scanner(r.scanner)
            if s in wanted[key][1] and r.scanner_version == versions[s] and r.status != "error":
                results[key][s] = ScanResult(s, r.scanner_version, r.status, r.findings, None)

    durations: dict[tuple[str, Scanner], float] = {}
    in_process: list[tuple[ScanTarget, Scanner]] = []
    out_of_process: list[tuple[ScanTarget, Scanner]] = []
    for key, (t, names) in wanted.items():
        for s in names:
            if s in results[key]:
                continue
            (in_process if s is Scanner.SECRETS and t.data is not None else out_of_process).append((t, s))
    for t, s in in_process:
        started = time.monotonic()
        results[t.content_key][s] = _scan_bytes_here(t, s, versions[s])
        durations[(t.content_key, s)] = time.monotonic() - started
    if out_of_process:
        for (key, s), (result, took) in _scan_in_process(stores, out_of_process, options, versions).items():
            results[key][s] = result
            durations[(key, s)] = took

    # kept: what took a scan worth saving; a clean in-process secrets scan of a small file is not (a commit with
    # nothing else to scan then writes no transaction of its own: bench/policy_commit.py)
    fresh = [(key, s, r) for key, by in results.items() for s, r in by.items()
             if (key, s) in durations and r.status != "error"
             and not (key in here_only and r.status == "clean")]
    if fresh:
        now = time.time()
        with stores.db.write() as conn:
            for key, s, res in fresh:
                scan_store.put_scan(conn, content_key=key, scanner=s.value, scanner_version=res.version,
                                    status=res.status, findings=res.findings, size=wanted[key][0].size,
                                    duration_s=durations[(key, s)], now=now)
    return {key: {s: _apply_policy(r, policy) for s, r in by.items()} for key, by in results.items() if by}


def _scan_bytes_here(target: ScanTarget, scanner: Scanner, version: str) -> ScanResult:
    """Secrets in a small file, in this process (the secrets scanner is pure stdlib, linear regexes)."""
    assert target.data is not None
    try:
        scan_bytes = cast(Callable[[bytes, str], ScanOutcome], getattr(load(scanner), "scan_bytes"))
        outcome = scan_bytes(target.data, target.path)
    except Exception as e:  # a failed scan is an error result, never a clean one
        return _error(scanner, version, f"the scanner failed: {type(e).__name__}")
    return ScanResult(scanner, version, outcome.status, outcome.findings, None)


# the scanner process ------------------------------------------------------------------------------------------------



def _materialise(stores: Stores, target: ScanTarget, folder: Path, n: int) -> Path:
    """A path on this machine holding the target's bytes: the large-file store's own file when it has one, else a
    temp file (small files' bytes, or a large file spooled from wherever it lives)."""
    if target.data is not None:
        p = folder / f"{n}"
        p.write_bytes(target.data)
        return p
    kind, _, oid = target.content_key.partition(":")
    if kind != "sha256":
        raise ValueError(f"{target.path}: a file without its bytes must be a large file (sha256:…), not {kind}")
    local = stores.blobs.local_path(oid)
    p = folder / f"{n}"
    if local is not None:
        try:  # a link, not the store's path: the converter deletes a blob once it is in xorbs, maybe mid-scan
            os.link(local, p)
            return p
        except OSError:
            pass  # gone meanwhile, or another file system: read it from wherever it lives now
    with p.open("wb") as f:
        for chunk in read_lfs(stores, oid):
            f.write(chunk)
    return p


def _scan_in_process(stores: Stores, pairs: list[tuple[ScanTarget, Scanner]], options: dict[Scanner, dict[str, Any]],
                     versions: dict[Scanner, str]) -> dict[tuple[str, Scanner], tuple[ScanResult, float]]:
    """Runs `pairs` in the scanner process. When the process dies (or is killed after the timeout) the pair it
    was on is an error and the pairs after it run in a new process, so one hostile file fails only itself."""
    out: dict[tuple[str, Scanner], tuple[ScanResult, float]] = {}
    settings = stores.settings
    with stores.blobs.scan_dir() as folder:
        files: dict[str, tuple[ScanTarget, str]] = {}  # id -> target, path on disk
        pending: list[tuple[str, Scanner]] = []
        for t, s in pairs:
            fid = hashlib.sha256(t.content_key.encode()).hexdigest()[:16]
            if fid not in files:
                try:
                    files[fid] = (t, str(_materialise(stores, t, folder, len(files))))
                except Exception as e:
                    files[fid] = (t, "")
                    out[(t.content_key, s)] = (_error(s, versions[s], f"the file could not be read for scanning: "
                                                                      f"{type(e).__name__}: {e}"), 0.0)
                    continue
            if not files[fid][1]:
                out[(t.content_key, s)] = (_error(s, versions[s], "the file could not be read for scanning"), 0.0)
                continue
            pending.append((fid, s))
        grouped: dict[str, list[Scanner]] = {}
        for fid, s in pending:
            grouped.setdefault(fid, []).append(s)
        pending = [(fid, s) for fid, names in grouped.items() for s in names]  # the order the process works in
        while pending:
            answered, failure = _run_process(pending, files, options, settings.scan_timeout_s,
                                             settings.scan_max_memory_bytes, folder)
            for (fid, s), line in answered.items():
                t = files[fid][0]
                version = versions[s]
                if line.get("status") not in ("clean", "findings"):
                    result = _error(s, version, str(line.get("error") or "the scanner failed"))
                elif line.get("version") != VERSIONS[s]:
                    result = _error(s, version, f"the scanner process answered version {line.get('version')!r} of "
                                                f"the {s.value} scanner, the server expects {VERSIONS[s]!r}")
                else:
                    result = ScanResult(s, version, str(line["status"]), dict(line.get("findings") or {}), None)
                out[(t.content_key, s)] = (result, float(line.get("duration_s") or 0.0))
            rest = [p for p in pending if p not in answered]
            if not rest:
                break
            if failure.startswith(NO_PROCESS):
                for fid, s in rest:
                    out[(files[fid][0].content_key, s)] = (_error(s, versions[s], failure), 0.0)
                break
            culprit = rest[0]  # the process works through its input in order: it died on the first unanswered
            t = files[culprit[0]][0]
            out[(t.content_key, culprit[1])] = (_error(culprit[1], versions[culprit[1]], failure), 0.0)
            pending = rest[1:]
    return out


def _crash_message(code: int) -> str:
    """What a scanner process that ended without answering died of."""
    if code == -signal.SIGKILL:
        why = "exit -9, SIGKILL: killed, as the kernel does when memory runs out"
    elif code == -signal.SIGXCPU:
        why = "exit -24, SIGXCPU: it used up its CPU time"
    elif code < 0:
        try:
            why = f"exit {code}, {signal.Signals(-code).name}"
        except ValueError:
            why = f"exit {code}"
    else:
        why = f"exit {code}"
    return f"the scanner crashed ({why}) while scanning this file"


def _run_process(pending: list[tuple[str, Scanner]], files: dict[str, tuple[ScanTarget, str]],
                 options: dict[Scanner, dict[str, Any]], timeout_s: float, memory_bytes: int, workdir: Path
                 ) -> tuple[dict[tuple[str, Scanner], dict[str, Any]], str]:
    """One run of the scanner process over `pending` (grouped by file, in the order the process works): the lines it answered, and what went wrong for the
    first pair it did not answer (when it did not answer them all)."""
    by_file: dict[str, list[str]] = {}
    for fid, s in pending:
        by_file.setdefault(fid, []).append(s.value)
    request = {
        "files": [{"id": fid, "path": files[fid][1], "name": files[fid][0].path, "scanners": names}
                  for fid, names in by_file.items()],
        "options": {s.value: options[s] for s in Scanner if options[s]},
        "limits": {"memory_bytes": memory_bytes, "cpu_s": max(1, math.ceil(timeout_s)) * len(pending) + 1},
    }
    expected = set(pending)
    # the process reads hostile bytes: it gets no credentials (tokens, database URLs, cloud keys in the environment),
    # and -P with a private working folder keeps a folder it did not choose off its import path
    env = {k: v for k, v in os.environ.items() if k in CHILD_ENV or k.startswith("LC_")}
    answered: dict[tuple[str, Scanner], dict[str, Any]] = {}
    try:
        proc = subprocess.Popen([sys.executable, "-P", "-m", "inhouse.scanners"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
                                cwd=workdir)
    except OSError as e:  # no process (out of processes or memory): nothing scanned, each pair an error
        return answered, f"{NO_PROCESS}: {e}"
    failure = ""
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        buffer = b""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                failure = f"the scan timed out after {timeout_s:g} s (scan_timeout_s) and was stopped"
                break
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                try:
                    line = json.loads(raw)
                    key = (str(line["id"]), Scanner(line["scanner"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if key in expected and key not in answered:
                    answered[key] = line
                deadline = time.monotonic() + timeout_s  # each scan has its own time
            if len(buffer) > MAX_LINE_BYTES:
                proc.kill()
                failure = "the scanner process broke its protocol (an answer line too long) and was stopped"
                break
        sel.close()
    finally:
        code = proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if not failure and len(answered) < len(expected):
        failure = _crash_message(code)
    return answered, failure
