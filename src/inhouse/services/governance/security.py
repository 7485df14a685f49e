"""What the scans said of a revision's files: `securityRepoStatus` of model info and each tree entry's
`securityFileStatus` (levels safe, unscanned, caution, unsafe, error; the rules; a pickle's imports; quarantined)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inhouse.services.context import Stores
from inhouse.services.governance import enforce, scans
from inhouse.storage.db import quarantine as quarantine_store
from inhouse.storage.db import scans as scan_store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import Scanner

SCAN_SUFFIXES = scans.PICKLE_SUFFIXES  # files a scan is expected for (pickles are scanned under every policy)
_FOUND_LEVEL = {Scanner.PICKLE: "unsafe", Scanner.SECRETS: "unsafe", Scanner.PERSONAL_DATA: "caution"}
_FOUND_RULE = {Scanner.PICKLE: "pickle.unsafe", Scanner.SECRETS: "secrets.found",
               Scanner.PERSONAL_DATA: "personal_data.found"}
_LEVELS = ("safe", "unscanned", "caution", "unsafe", "error")  # mildest first


@dataclass(frozen=True)
class FileSecurity:
    path: str
    level: str  # safe | unscanned | caution | unsafe | error
    rules: list[str]
    pickle_imports: list[str] | None
    unsafe_globals: list[str]
    quarantined: bool


@dataclass(frozen=True)
class SecurityStatus:
    scans_done: bool  # every file a scan is expected for was scanned
    files: list[FileSecurity]  # files with issues


def file_security(stores: Stores, repo: RepoRecord, files: list[tuple[str, str, str | None]]
                  ) -> dict[str, FileSecurity]:
    """What the scans said of each of these files of a revision ((path, git blob id, LFS oid or None)) that was
    scanned or should have been (pickle formats): its level, the rules that found something, a pickle's imports
    and unsafe globals, whether the repo holds it back (quarantined; a quarantine for a scanner's failure is level
    error)."""
    keys = {path: enforce.lfs_key(oid) if oid is not None else f"git:{sha}" for path, sha, oid in files}
    with stores.db.read() as conn:
        found = scan_store.get_scans(conn, list(set(keys.values())))
        held = {q.content_key: q.rule for q in quarantine_store.list_for_repo(conn, repo.id, active_only=True)
                if q.content_key in found or q.content_key in set(keys.values())}
    out: dict[str, FileSecurity] = {}
    for path, key in keys.items():
        latest: dict[str, Any] = {}
        for r in found.get(key, []):  # oldest first: the last row of each scanner is its latest scan
            latest[r.scanner] = r
        level_i, names, imports, unsafe = 0, [], None, []
        for name, r in latest.items():
            try:
                scanner = Scanner(name)
            except ValueError:
                continue
            if scanner is Scanner.PICKLE and isinstance(r.findings.get("imports"), list):
                imports = [str(i) for i in r.findings["imports"]][:200]
                unsafe = [str(u.get("global")) for u in r.findings.get("unsafe") or [] if isinstance(u, dict)
                          and u.get("global")][:200]
            if r.status == "error":
                level_i = max(level_i, _LEVELS.index("error"))
                names.append(f"{scanner.value}.scan_error")
            elif r.status == "findings":
                level_i = max(level_i, _LEVELS.index(_FOUND_LEVEL[scanner]))
                names.append(_FOUND_RULE[scanner])
        rule = held.get(key)
        if not latest and rule is None:
            if not path.lower().endswith(tuple(SCAN_SUFFIXES)):
                continue  # nothing scanned it, nothing had to
            level_i = _LEVELS.index("unscanned")
        if rule is not None:
            names.append(rule)
            level_i = max(level_i, _LEVELS.index("error" if rule.endswith(".scan_error") else "unsafe"))
        out[path] = FileSecurity(path, _LEVELS[level_i], sorted(set(names)), imports, unsafe, rule is not None)
    return out


def security_status(stores: Stores, repo: RepoRecord, files: list[tuple[str, str, str | None]]) -> SecurityStatus:
    """`securityRepoStatus` of model info: the files of a revision with issues (see `file_security`: anything but
    safe), and whether every file a scan is expected for was scanned."""
    statuses = file_security(stores, repo, files)
    issues = [f for f in statuses.values() if f.level != "safe"]
    return SecurityStatus(not any(f.level == "unscanned" for f in issues), issues)
