"""git clone, fetch and pull over smart HTTP: git-upload-pack, protocol v2 and v0 (stateless RPC).

Served refs: refs/heads/*, refs/tags/* and refs/pr/* (as the Hub serves them), with HEAD → refs/heads/main.
Protocol v2 (`Git-Protocol: version=2`): the capability advertisement, `ls-refs` (ref-prefix, symrefs, peel,
unborn) and `fetch` (want/have/done, shallow with deepen N, deepen-since and deepen-relative, include-tag,
no-progress, thin-pack). v0: the ref advertisement with multi_ack_detailed, no-done, side-band-64k, shallow,
deepen-since, deepen-relative, include-tag, symref, agent.

Negotiation is stateless, as git's HTTP transport is: each request carries every want and every have so far. A have
this repo holds is acknowledged as common, and one common have makes the server ready (git then sends `done`); the
pack holds what the wants reach and the common haves do not (storage/git/packs.py walks it in batches and streams
it from the stored zlib bodies). A want must be something this repo holds (a ref's target or one of its commits):
objects are stored once for all repos, so the check is what keeps one repo's content out of another's clone.

Permission: Action.DOWNLOAD on the repo (a gated repo needs access granted), for the advertisement and the fetch.
A fetch of a private or gated repo is audited once, as `git.read`, when its pack is sent (not on each negotiation
round). A request that is not pkt-lines is a 400; one that is well-framed but asks for something this server does
not do (an unknown capability, a want it does not hold) gets git's `ERR` line, which git shows as
`remote error: …`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import BadRequest
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git import packs

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # an upload-pack request (wants, haves, shallows): far above what git sends
MAX_WANTS = 100_000
MAX_HAVES = 500_000
MAX_PREFIXES = 1_000  # ls-refs ref-prefix lines beyond this are ignored (all refs are listed), as git does
AGENT = "inhouse"
SERVED_PREFIXES = ("refs/heads/", "refs/tags/", "refs/pr/")
HEAD_REF = f"refs/heads/{DEFAULT_BRANCH}"
SIDEBAND_DATA = 65_515  # largest side-band-64k payload: 65520 - 4 (length) - 1 (band)
_HEX = frozenset("0123456789abcdef")

V0_CAPS = ("multi_ack_detailed", "no-done", "side-band-64k", "side-band", "ofs-delta", "shallow", "deepen-since",
           "deepen-relative",
           "no-progress", "include-tag", "allow-tip-sha1-in-want", "allow-reachable-sha1-in-want",
           "object-format=sha1", f"agent={AGENT}")
V2_CAPS = (f"agent={AGENT}", "ls-refs=unborn", "fetch=shallow", "object-format=sha1")
_V0_REQUESTABLE = frozenset(c for c in V0_CAPS if "=" not in c) | {"multi_ack", "thin-pack"}
_V2_FETCH_FLAGS = frozenset({"thin-pack", "no-progress", "include-tag", "ofs-delta", "done"})

FLUSH, DELIM, RESPONSE_END = b"0000", b"0001", b"0002"


class _Refused(Exception):
    """A well-framed request this server will not serve: answered with git's ERR line."""


# pkt-lines -------------------------------------------------------------------------------------------------------

def pkt(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return f"{len(raw) + 4:04x}".encode() + raw


def read_pkts(body: bytes) -> list[bytes | None]:
    """The pkt-lines of a request: each payload (one trailing LF removed), None for a flush, b"\\x00delim" never:
    a delimiter is returned as DELIM. Malformed framing (a bad length, a truncated line) is a 400."""
    out: list[bytes | None] = []
    i, n = 0, len(body)
    while i < n:
        head = body[i : i + 4]
        if len(head) < 4:
            raise BadRequest(f"Malformed pkt-line at byte {i}: the request ends inside a length header.")
        try:
            text = head.decode("ascii")
            length = int(text, 16) if len(set(text) - set("0123456789abcdefABCDEF")) == 0 else -1
        except UnicodeDecodeError:
            length = -1
        if length < 0:
            raise BadRequest(f"Malformed pkt-line at byte {i}: {head!r} is not a 4-digit hex length.")
        if length == 0:
            out.append(None)
            i += 4
            continue
        if length in (1, 2):
            out.append(DELIM if length == 1 else RESPONSE_END)
            i += 4
            continue
        if length < 4 or length > 65520:
            raise BadRequest(f"Malformed pkt-line at byte {i}: length {length} is out of range (4..65520).")
        if i + length > n:
            raise BadRequest(f"Malformed pkt-line at byte {i}: {length} bytes announced, {n - i} left.")
        payload = body[i + 4 : i + length]
        out.append(payload[:-1] if payload.endswith(b"\n") else payload)
        i += length
    return out


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("a request line is not UTF-8") from None


def _oid(value: str, what: str) -> str:
    if len(value) != 40 or not set(value) <= _HEX:
        raise _Refused(f"{what}: {value[:60]!r} is not a 40-digit lower-case hex object id")
    return value


def _sideband(band: int, data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), SIDEBAND_DATA):
        yield pkt(bytes([band]) + data[i : i + SIDEBAND_DATA])


# refs ------------------------------------------------------------------------------------------------------------

@dataclass
class Refs:
    """The refs a repo serves to git: name → target, annotated tag → the object it peels to."""

    targets: dict[str, str]
    peeled: dict[str, str] = field(default_factory=dict)  # tag object id → peeled id

    @property
    def head(self) -> str | None:
        return self.targets.get(HEAD_REF)


def load_refs(stores: Stores, repo: RepoRecord) -> Refs:
    with stores.db.read() as conn:
        targets = {n: t for n, t in repo_store.list_refs(conn, repo.id) if n.startswith(SERVED_PREFIXES)}
        refs = Refs(targets)
        pending = sorted({t for n, t in targets.items() if n.startswith("refs/tags/")})
        while pending:  # annotated tags (and tags of tags) → what they point at
            found = packs.tag_targets(conn, [s for s in pending if s not in refs.peeled])
            refs.peeled.update(found)
            pending = sorted(set(found.values()))
    # a tag of a tag peels to the end of the chain
    for sha in list(refs.peeled):
        end, hops = refs.peeled[sha], 0
        while end in refs.peeled and hops < 32:
            end, hops = refs.peeled[end], hops + 1
        refs.peeled[sha] = end
    return refs


def _load(stores: Stores, principal: Principal, name: RepoName) -> RepoRecord:
    return repo_access.load(stores, principal, name, Action.DOWNLOAD, follow_moves=False)


def advertise_upload(stores: Stores, principal: Principal, name: RepoName, protocol: int) -> bytes:
    """The body of GET info/refs?service=git-upload-pack after the `# service=` header: v2's capabilities, or v0's
    ref advertisement."""
    repo = _load(stores, principal, name)
    if protocol == 2:
        return b"".join(pkt(c + "\n") for c in ("version 2", *V2_CAPS)) + FLUSH
    refs = load_refs(stores, repo)
    caps = " ".join((*V0_CAPS, *([f"symref=HEAD:{HEAD_REF}"] if refs.head else [])))
    lines: list[tuple[str, str]] = []
    if refs.head:
        lines.append((refs.head, "HEAD"))
    for ref, target in sorted(refs.targets.items()):
        lines.append((target, ref))
        if target in refs.peeled:
            lines.append((refs.peeled[target], ref + "^{}"))
    if not lines:
        lines.append(("0" * 40, "capabilities^{}"))
    out = [pkt(f"{lines[0][0]} {lines[0][1]}\0{caps}\n")]
    out += [pkt(f"{sha} {ref}\n") for sha, ref in lines[1:]]
    return b"".join(out) + FLUSH


# requests --------------------------------------------------------------------------------------------------------

@dataclass
class FetchRequest:
    wants: list[str] = field(default_factory=list)
    haves: list[str] = field(default_factory=list)
    shallow: set[str] = field(default_factory=set)
    depth: int | None = None
    since: int | None = None
    relative: bool = False  # deepen-relative: the depth counts from the client's shallow commits
    done: bool = False
    flags: set[str] = field(default_factory=set)  # capabilities (v0) or fetch arguments (v2) asked for
    negotiating: bool = False  # v0: the request goes on past its wants (haves, or done)

    @property
    def deepen(self) -> bool:
        return self.depth is not None or self.since is not None


def _shallow_arg(req: FetchRequest, line: str) -> bool:
    """Reads a shallow/deepen line into `req`; False when `line` is not one."""
    if line.startswith("shallow "):
        req.shallow.add(_oid(line[8:], "shallow"))
        if len(req.shallow) > MAX_WANTS:
            raise _Refused(f"too many shallow lines (the limit is {MAX_WANTS})")
    elif line.startswith("deepen-since "):
        value = line[13:]
        if not value.isdigit() or len(value) > 12:
            raise _Refused(f"deepen-since {value[:30]!r} is not a time in seconds")
        req.since = int(value)
    elif line.startswith("deepen-not "):
        raise _Refused("--shallow-exclude (deepen-not) is not supported here; use --depth or --shallow-since")
    elif line == "deepen-relative":
        req.relative = True
    elif line.startswith("deepen "):
        value = line[7:]
        if not value.isdigit() or len(value) > 10 or int(value) < 1:
            raise _Refused(f"deepen {value[:30]!r} is not a positive depth")
        req.depth = min(int(value), 2**31 - 1)
    else:
        return False
    if req.depth is not None and req.since is not None:
        raise _Refused("deepen and deepen-since cannot be used together")
    if req.relative and req.since is not None:
        raise _Refused("deepen-relative goes with deepen N, not deepen-since")
    return True


def _have(req: FetchRequest, line: str) -> None:
    req.haves.append(_oid(line[5:], "have"))
    if len(req.haves) > MAX_HAVES:
        raise _Refused(f"too many haves (the limit is {MAX_HAVES}); fetch into a fresh clone")


def _want(req: FetchRequest, value: str) -> None:
    req.wants.append(_oid(value, "want"))
    if len(req.wants) > MAX_WANTS:
        raise _Refused(f"too many wants (the limit is {MAX_WANTS})")


def parse_v0(lines: list[bytes | None]) -> FetchRequest:
    """want <id> [caps] … [shallow <id> …] [deepen …] flush [have <id> … ] (flush | done)."""
    req = FetchRequest()
    i = 0
    while i < len(lines) and lines[i] is not None:
        raw = lines[i]
        assert raw is not None
        if raw in (DELIM, RESPONSE_END):
            raise _Refused("unexpected delimiter in a v0 request")
        line = _text(raw)
        if line.startswith("want "):
            oid, _, caps = line[5:].partition(" ")
            _want(req, oid)
            if i == 0:
                for cap in caps.split():
                    key = cap.split("=", 1)[0]
                    if cap in _V0_REQUESTABLE or key in ("agent", "session-id") or cap == "object-format=sha1":
                        req.flags.add(cap)
                    else:
                        raise _Refused(f"unknown capability {cap[:60]!r}")
                req.relative = "deepen-relative" in req.flags  # in v0 a capability, in v2 an argument
            elif caps:
                raise _Refused("capabilities belong on the first want line only")
        elif not _shallow_arg(req, line):
            raise _Refused(f"unexpected line {line[:60]!r} among the wants")
        i += 1
    if i == len(lines):
        if lines:
            raise BadRequest("The request ends without the flush-pkt after its wants.")
        raise BadRequest("Empty upload-pack request: send pkt-lines (want …, flush, have …, done).")
    if not req.wants:
        raise _Refused("no want lines")
    i += 1  # the flush after the wants
    req.negotiating = i < len(lines)
    while i < len(lines):
        raw = lines[i]
        i += 1
        if raw is None:
            if i != len(lines):
                raise _Refused("pkt-lines after the final flush")
            break
        line = _text(raw)
        if line.startswith("have "):
            _have(req, line)
        elif line == "done":
            req.done = True
            if i != len(lines):
                raise _Refused("pkt-lines after done")
            break
        else:
            raise _Refused(f"unexpected line {line[:60]!r} among the haves")
    else:
        if req.negotiating and not req.done:
            raise BadRequest("The request ends without done or a final flush-pkt.")
    return req


def _v2_command(lines: list[bytes | None]) -> tuple[str, list[str]]:
    """command=… and its capability lines up to the delimiter; the arguments after it (to the flush)."""
    if not lines or lines[0] is None:
        raise BadRequest("Empty v2 request: send command=ls-refs or command=fetch.")
    first = _text(lines[0]) if lines[0] not in (DELIM, RESPONSE_END) else ""
    if not first.startswith("command="):
        raise _Refused("a v2 request starts with command=")
    command = first[8:]
    if command not in ("ls-refs", "fetch"):
        raise _Refused(f"unknown command {command[:40]!r} (ls-refs and fetch are served)")
    i = 1
    while i < len(lines) and lines[i] not in (DELIM, None):
        cap = _text(lines[i] or b"")
        key = cap.split("=", 1)[0]
        if key not in ("agent", "session-id") and cap != "object-format=sha1":
            raise _Refused(f"unknown capability {cap[:60]!r}")
        i += 1
    args: list[str] = []
    if i < len(lines) and lines[i] == DELIM:
        i += 1
        while i < len(lines) and lines[i] is not None:
            raw = lines[i]
            assert raw is not None
            if raw in (DELIM, RESPONSE_END):
                raise _Refused("unexpected delimiter among the arguments")
            args.append(_text(raw))
            i += 1
    if i >= len(lines):
        raise BadRequest("The v2 request ends without its flush-pkt.")
    if i != len(lines) - 1:
        raise _Refused("pkt-lines after the request's flush")
    return command, args


def parse_v2_fetch(args: list[str]) -> FetchRequest:
    req = FetchRequest(negotiating=True)
    for line in args:
        if line.startswith("want "):
            _want(req, line[5:])
        elif line.startswith("have "):
            _have(req, line)
        elif line in _V2_FETCH_FLAGS:
            req.flags.add(line)
            req.done = req.done or line == "done"
        elif not _shallow_arg(req, line):
            raise _Refused(f"unknown fetch argument {line[:60]!r}")
    if not req.wants:
        raise _Refused("no want lines")
    return req


# serving ---------------------------------------------------------------------------------------------------------

def _ls_refs(refs: Refs, args: list[str]) -> Iterator[bytes]:
    peel = symrefs = False
    prefixes: list[str] = []
    for a in args:
        if a == "peel":
            peel = True
        elif a == "symrefs":
            symrefs = True
        elif a == "unborn":
            pass
        elif a.startswith("ref-prefix "):
            prefixes.append(a[11:])
        else:
            raise _Refused(f"unknown ls-refs argument {a[:60]!r}")
    if len(prefixes) > MAX_PREFIXES:
        prefixes = []

    def wanted(ref: str) -> bool:
        return not prefixes or any(ref.startswith(p) for p in prefixes)

    out: list[bytes] = []
    if wanted("HEAD"):
        if refs.head:
            out.append(pkt(f"{refs.head} HEAD" + (f" symref-target:{HEAD_REF}" if symrefs else "") + "\n"))
        elif "unborn" in args and symrefs:
            out.append(pkt(f"unborn HEAD symref-target:{HEAD_REF}\n"))
    for ref, target in sorted(refs.targets.items()):
        if wanted(ref):
            extra = f" peeled:{refs.peeled[target]}" if peel and target in refs.peeled else ""
            out.append(pkt(f"{target} {ref}{extra}\n"))
    return iter([b"".join(out) + FLUSH])


def _ours(stores: Stores, repo: RepoRecord, refs: Refs, shas: list[str]) -> set[str]:
    """Those of `shas` this repo holds: ref targets (and what tags peel to) and the repo's commits."""
    known = set(refs.targets.values()) | set(refs.peeled.values())
    found = {s for s in shas if s in known}
    with stores.db.read() as conn:
        found |= packs.repo_holds(conn, repo.id, sorted(set(shas) - found))
    return found


def _pack(stores: Stores, repo: RepoRecord, refs: Refs, req: FetchRequest, common: list[str]) -> packs.Plan:
    tags = {t: p for t, p in refs.peeled.items() if t in set(refs.targets.values())}
    with stores.db.read() as conn:
        try:
            return packs.plan(conn, repo.id, req.wants, common, client_shallow=req.shallow & _ours(
                stores, repo, refs, sorted(req.shallow)), depth=req.depth, since=req.since,
                relative=req.relative and req.depth is not None, tags=tags,
                include_tag="include-tag" in req.flags, thin="thin-pack" in req.flags)
        except packs.PackError as e:
            raise _Refused(f"the repository is missing object {e.args[0]}; tell your inhouse administrator") from e


def _pack_stream(stores: Stores, plan: packs.Plan) -> Iterator[bytes]:
    def read(shas: list[str]) -> Iterator[tuple[list[str], dict[str, tuple[str, int, bytes]]]]:
        with stores.db.read() as conn:
            sizes = packs.sizes_of(conn, shas)
        for group in packs.by_size(shas, sizes):
            with stores.db.read() as conn:
                yield group, packs.read_stored(conn, group)

    return packs.write_pack(read, plan.objects, plan.cache, plan.deltas)


def _audit(stores: Stores, principal: Principal, repo: RepoRecord, req: FetchRequest, protocol: int,
           plan: packs.Plan) -> None:
    details: dict[str, object] = {"protocol": protocol, "wants": len(req.wants), "haves": len(req.haves),
                                  "objects": len(plan.objects)}
    if req.depth is not None:
        details["depth"] = req.depth
    repo_access.audit_read(stores, principal, repo, "git.read", details=details)


def _sideband_pack(chunks: Iterator[bytes], errors_as_band3: bool = True) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            yield from _sideband(1, chunk)
    except packs.PackError as e:
        if errors_as_band3:
            yield pkt(b"\x03" + f"error: the repository is missing object {e.args[0]}\n".encode())
        return
    yield FLUSH


def _common(stores: Stores, repo: RepoRecord, refs: Refs, req: FetchRequest) -> list[str]:
    """The client's haves this repo holds (in the order given), once every want is found to be the repo's own."""
    ours = _ours(stores, repo, refs, req.wants + req.haves)
    missing = [w for w in req.wants if w not in ours]
    if missing:
        raise _Refused(f"upload-pack: not our ref {missing[0]}")
    return [h for h in dict.fromkeys(req.haves) if h in ours]


def _fetch_v2(stores: Stores, principal: Principal, repo: RepoRecord, refs: Refs, args: list[str]
              ) -> Iterator[bytes]:
    req = parse_v2_fetch(args)
    common = _common(stores, repo, refs, req)
    head: list[bytes] = []
    if not req.done:
        head.append(pkt("acknowledgments\n"))
        head += [pkt(f"ACK {h}\n") for h in common] or [pkt("NAK\n")]
        if not common:
            return iter([b"".join(head) + FLUSH])
        head += [pkt("ready\n"), DELIM]
    plan = _pack(stores, repo, refs, req, common)
    if req.deepen or plan.shallow or plan.unshallow:
        head.append(pkt("shallow-info\n"))
        head += [pkt(f"shallow {s}\n") for s in plan.shallow]
        head += [pkt(f"unshallow {s}\n") for s in plan.unshallow]
        head.append(DELIM)
    head.append(pkt("packfile\n"))
    _audit(stores, principal, repo, req, 2, plan)
    first = b"".join(head)

    def stream() -> Iterator[bytes]:
        yield first
        yield from _sideband_pack(_pack_stream(stores, plan))

    return stream()


def _fetch_v0(stores: Stores, principal: Principal, repo: RepoRecord, refs: Refs, lines: list[bytes | None]
              ) -> Iterator[bytes]:
    req = parse_v0(lines)
    common = _common(stores, repo, refs, req)
    head: list[bytes] = []
    plan: packs.Plan | None = None
    if req.deepen:
        plan = _pack(stores, repo, refs, req, common)
        head += [pkt(f"shallow {s}\n") for s in plan.shallow]
        head += [pkt(f"unshallow {s}\n") for s in plan.unshallow]
        head.append(FLUSH)
    if not req.negotiating:
        return iter([b"".join(head)])
    detailed = "multi_ack_detailed" in req.flags
    if not req.done:
        head += [pkt(f"ACK {h} common\n") for h in common] if detailed else []
        ready = bool(common) and detailed
        if ready:
            head.append(pkt(f"ACK {common[-1]} ready\n"))
        head.append(pkt("NAK\n"))
        if not (ready and "no-done" in req.flags):
            return iter([b"".join(head)])
        head.append(pkt(f"ACK {common[-1]}\n"))
    else:
        head.append(pkt(f"ACK {common[-1]}\n") if common else pkt("NAK\n"))
    if plan is None:
        plan = _pack(stores, repo, refs, req, common)
    _audit(stores, principal, repo, req, 0, plan)
    first = b"".join(head)
    banded = "side-band-64k" in req.flags or "side-band" in req.flags

    def stream() -> Iterator[bytes]:
        yield first
        if banded:
            yield from _sideband_pack(_pack_stream(stores, plan))
        else:
            yield from _pack_stream(stores, plan)

    return stream()


def upload_pack(stores: Stores, principal: Principal, name: RepoName, request: bytes,
                protocol: int) -> Iterator[bytes]:
    """The response body of POST git-upload-pack. Everything is checked and the pack planned before the first
    chunk is returned: an error after that can only travel inside the stream (side-band 3)."""
    repo = _load(stores, principal, name)
    lines = read_pkts(request)
    try:
        refs = load_refs(stores, repo)
        if protocol == 2:
            command, args = _v2_command(lines)
            if command == "ls-refs":
                return _ls_refs(refs, args)
            return _fetch_v2(stores, principal, repo, refs, args)
        return _fetch_v0(stores, principal, repo, refs, lines)
    except _Refused as e:
        return iter([pkt(f"ERR {e}\n")])
