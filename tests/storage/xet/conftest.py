"""Shared fixtures for the Xet format tests.

``fake_cas`` is a throwaway in-process CAS server, just enough of the Xet
HTTP API for the real ``hf_xet`` client to upload to and download from. It
records every request and body, and it runs every upload through the format
layer under test (xorb validation, shard parsing and checks), so a client
upload that the formats reject shows up as a recorded error.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

try:
    import inhouse  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from inhouse.errors import BadRequest
from inhouse.errors import RangeNotSatisfiable as RangeError
from inhouse.storage.xet import (
    FileInfo,
    MerkleHash,
    RangeNotSatisfiable,
    XetFormatError,
    XorbEntry,
    XorbInfo,
    XorbLayout,
    XorbValidator,
    build_dedup_response,
    check_shard_references,
    check_xorb_entry,
    eligible_chunk_hashes,
    parse_shard,
    plan_reconstruction,
)
from inhouse.web.ranges import parse_ranges


@dataclass
class FakeCasState:
    """What the fake CAS server has received and stores."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    xorb_bodies: dict[MerkleHash, bytes] = field(default_factory=dict)
    xorb_infos: dict[MerkleHash, XorbInfo] = field(default_factory=dict)
    shard_bodies: list[bytes] = field(default_factory=list)
    files: dict[MerkleHash, FileInfo] = field(default_factory=dict)
    #: What downloads are served from (defaults to the uploaded bytes).
    served: dict[MerkleHash, tuple[bytes, XorbLayout]] = field(default_factory=dict)
    #: Global dedup index: chunk hash -> xorb entries to answer with.
    dedup_index: dict[MerkleHash, list[XorbEntry]] = field(default_factory=dict)
    dedup_enabled: bool = False
    dedup_answers: int = 0
    #: Range headers of xorb data requests.
    range_headers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeCasState
    endpoint: str

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes = b"", ctype: str = "application/json", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: object) -> None:
        self._send(code, json.dumps(obj).encode())

    def _fail(self, message: str) -> None:
        with self.state.lock:
            self.state.errors.append(f"{self.command} {self.path}: {message}")
        self._json(400, {"error": message})

    def do_HEAD(self) -> None:
        self.state.requests.append(("HEAD", self.path))
        self._send(404)

    def do_GET(self) -> None:
        state = self.state
        state.requests.append(("GET", self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["v1", "chunks"] and len(parts) == 4:
            chunk_hash = MerkleHash.from_hex(parts[3])
            with state.lock:
                entries = state.dedup_index.get(chunk_hash) if state.dedup_enabled else None
                if entries:
                    state.dedup_answers += 1
            if not entries:
                self._send(404, b"{}")
                return
            self._send(200, build_dedup_response(entries), "application/octet-stream")
        elif parts[1:2] == ["reconstructions"] and parts[0] in ("v1", "v2") and len(parts) == 3:
            self._reconstruction(parts[0], MerkleHash.from_hex(parts[2]))
        elif parts[0] == "xorb-data" and len(parts) == 2:
            self._xorb_data(MerkleHash.from_hex(parts[1]))
        else:
            self._send(404, b"{}")

    def _reconstruction(self, version: str, file_hash: MerkleHash) -> None:
        state = self.state
        with state.lock:
            info = state.files.get(file_hash)
            layouts = {h: layout for h, (_, layout) in state.served.items()}
        if info is None:
            self._send(404, b"{}")
            return
        try:  # the server's own Range parser (web/ranges.py), as the real CAS parses it
            wanted = parse_ranges(self.headers.get("Range"), max_parts=1)
            byte_range = wanted[0].span(info.size) if wanted else None
            plan = plan_reconstruction(info.segments, layouts, byte_range)
        except (RangeNotSatisfiable, RangeError):
            self._send(416, b"{}")
            return
        except (XetFormatError, BadRequest) as exc:
            self._fail(str(exc))
            return

        def url_for(xorb_hash: MerkleHash, ranges: object) -> str:
            return f"{self.endpoint}/xorb-data/{xorb_hash.to_hex()}"

        body = plan.to_v2(url_for) if version == "v2" else plan.to_v1(url_for)
        self._json(200, body)

    def _xorb_data(self, xorb_hash: MerkleHash) -> None:
        with self.state.lock:
            stored = self.state.served.get(xorb_hash)
        if stored is None:
            self._send(404)
            return
        data = stored[0]
        header = self.headers.get("Range", "")
        with self.state.lock:
            self.state.range_headers.append(header)
        if not header.startswith("bytes="):
            self._send(200, data, "application/octet-stream")
            return
        ranges = []
        for spec in header[len("bytes=") :].split(","):
            first, _, last = spec.strip().partition("-")
            ranges.append((int(first), min(int(last), len(data) - 1)))
        if len(ranges) == 1:
            first, last = ranges[0]
            self._send(
                206,
                data[first : last + 1],
                "application/octet-stream",
                Content_Range=f"bytes {first}-{last}/{len(data)}",
            )
            return
        boundary = "fakecasboundary"
        body = bytearray()
        for first, last in ranges:
            body += (
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {first}-{last}/{len(data)}\r\n\r\n"
            ).encode()
            body += data[first : last + 1] + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        self._send(206, bytes(body), f"multipart/byteranges; boundary={boundary}")

    def do_POST(self) -> None:
        state = self.state
        body = self._body()
        state.requests.append(("POST", self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["v1", "xorbs"] and len(parts) == 4:
            try:
                expected = MerkleHash.from_hex(parts[3])
                validator = XorbValidator(expected)
                for i in range(0, len(body), 65536):  # exercise the streaming path
                    validator.feed(body[i : i + 65536])
                info = validator.finish()
            except XetFormatError as exc:
                self._fail(str(exc))
                return
            with state.lock:
                inserted = expected not in state.xorb_infos
                state.xorb_bodies[expected] = body
                state.xorb_infos[expected] = info
                state.served.setdefault(expected, (body, XorbLayout.from_xorb_info(info)))
            self._json(200, {"was_inserted": inserted})
        elif parts == ["v1", "shards"]:
            try:
                shard = parse_shard(body, allow_footer=False)
                with state.lock:
                    infos = dict(state.xorb_infos)
                for entry in shard.xorbs:
                    if entry.hash not in infos:
                        raise XetFormatError(f"shard lists xorb {entry.hash}, which was never uploaded")
                    check_xorb_entry(entry, infos[entry.hash])
                check_shard_references(shard, {h: i.hashes_and_sizes() for h, i in infos.items()})
            except XetFormatError as exc:
                self._fail(str(exc))
                return
            with state.lock:
                state.shard_bodies.append(body)
                for f in shard.files:
                    state.files[f.file_hash] = f
                by_hash = {x.hash: x for x in shard.xorbs}
                for chunk_hash in eligible_chunk_hashes(shard):
                    for entry in shard.xorbs:
                        if any(c.hash == chunk_hash for c in entry.chunks):
                            state.dedup_index.setdefault(chunk_hash, []).append(by_hash[entry.hash])
            self._json(200, {"result": 1})
        else:  # /v2/shards, /v1/xorb-grants/..., telemetry: not offered
            self._send(404, b"{}")


@dataclass
class FakeCas:
    endpoint: str
    state: FakeCasState


@pytest.fixture
def fake_cas() -> Iterator[FakeCas]:
    state = FakeCasState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeCas(handler.endpoint, state)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def xet_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point hf_xet's caches and logs at a fresh temporary directory."""
    cache = tmp_path / "hf_xet_cache"
    monkeypatch.setenv("HF_XET_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return cache
