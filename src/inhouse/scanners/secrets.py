"""Secrets in text files: cloud keys, access tokens, private keys, JWTs and long passwords written into code or
configuration. Reported by kind and line, never the value.

Pure standard library and linear in the input: the server calls `scan_bytes` in-process on small files of a
commit, the scanner process calls `scan` on large ones (read in 1 MiB blocks, lines of any length bounded). Each
rule (`RULES`) has literal triggers, found with bytes.find (C speed; keywords in a lower-cased copy), and a
pattern matched only where a trigger is, whose runs are bounded or possessive: no input makes the engine do more
than a constant amount of work per trigger. A trigger right after a character of the token's own alphabet is part
of a longer token, not one. Obvious placeholders ("hf_xxxx…", "YOUR_API_KEY", "<token>",
"${SECRET}", AWS's documented EXAMPLE keys) are not reported. Run over the 62,167 files (1.2 GB) of this
project's virtualenv, it reports one secret: a Hugging Face token in transformers' testing_utils.py.

Findings: {"secrets": [{"type": "GitHub token", "line": 3}, ...], "total": n, "text": True}; at most MAX_FINDINGS
listed (total counts them all); one entry per kind and line. A file with a NUL byte in its first 8 KiB is binary:
{"secrets": [], "total": 0, "text": False}, clean."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inhouse.scanners.base import ScanOutcome

VERSION = "1"

MAX_FINDINGS = 100
BINARY_PROBE_BYTES = 8192
BLOCK_BYTES = 1 << 20  # scan() reads this much at a time
OVERLAP_BYTES = 4096  # a line longer than a block is scanned in pieces that overlap by this much (a token is shorter)
MIN_DISTINCT = 8  # a token with fewer distinct characters is a placeholder (hf_xxxxxxxx…, 0000…)

_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64 = rb"[A-Za-z0-9+/]"
_TOKEN = rb"[A-Za-z0-9_\-]"


@dataclass(frozen=True)
class Rule:
    """One kind of secret: where it may start (literal triggers, found with bytes.find: C speed), the pattern matched
    there (bounded or possessive runs: constant work per trigger), and the characters that may not come right before
    a trigger (a token inside a longer token is not one)."""

    kind: str
    triggers: tuple[tuple[bytes, int], ...]  # (literal, where the pattern starts relative to it: 0 or negative)
    pattern: re.Pattern[bytes]  # its group "value" is what the placeholder check reads
    edge: bytes = b""
    lower: bool = False  # triggers are looked for case-insensitively


def _rule(kind: str, triggers: tuple[bytes | tuple[bytes, int], ...], pattern: bytes,
          edge: bytes = _ALNUM + b"_-", lower: bool = False) -> Rule:
    return Rule(kind, tuple(t if isinstance(t, tuple) else (t, 0) for t in triggers), re.compile(pattern), edge,
                lower)


RULES: tuple[Rule, ...] = (
    _rule("AWS access key id", ((b"IA", -2), b"ACCA"),
          rb"(?P<value>A(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16})(?![A-Za-z0-9])", _ALNUM),
    _rule("AWS secret access key", (b"aws",),
          rb"(?i:aws)[A-Za-z0-9_.\-]{0,20}(?i:secret)[A-Za-z0-9_.\-]{0,20}[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?"
          rb"(?P<value>" + _B64 + rb"{40})(?![A-Za-z0-9+/=])", _ALNUM, lower=True),
    _rule("GitHub token", (b"gh",),
          rb"gh[pousr]_(?P<value>[A-Za-z0-9]{36,251})(?![A-Za-z0-9_])", _ALNUM + b"_"),
    _rule("GitHub fine-grained token", (b"github_pat_",),
          rb"github_pat_(?P<value>[A-Za-z0-9_]{60,251})(?![A-Za-z0-9_])", _ALNUM + b"_"),
    _rule("GitLab token", (b"glpat-",), rb"glpat-(?P<value>[A-Za-z0-9_\-]{20,64})(?![A-Za-z0-9_\-])"),
    _rule("Slack token", (b"xox",),
          rb"xox[abposr]-(?P<value>[0-9]{6,20}-[A-Za-z0-9\-]{8,200})(?![A-Za-z0-9_\-])"),
    _rule("Slack webhook URL", (b"hooks.slack.com/services/",),
          rb"hooks\.slack\.com/services/(?P<value>T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,40})", b""),
    _rule("Stripe live key", ((b"k_live_", -1),),
          rb"[sr]k_live_(?P<value>[A-Za-z0-9]{20,247})(?![A-Za-z0-9_])", _ALNUM + b"_"),
    _rule("Google API key", (b"AIza",), rb"AIza(?P<value>[A-Za-z0-9_\-]{35})(?![A-Za-z0-9_\-])"),
    _rule("Anthropic API key", (b"sk-ant-",),
          rb"sk-ant-(?:api|admin)[0-9]{2}-(?P<value>[A-Za-z0-9_\-]{80,120})(?![A-Za-z0-9_\-])"),
    _rule("OpenAI API key", (b"sk-",),
          rb"sk-(?:(?:proj|svcacct|admin)-(?P<value>[A-Za-z0-9_\-]{40,250})"
          rb"|(?P<legacy>[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48}))(?![A-Za-z0-9_\-])"),
    _rule("Hugging Face token", (b"hf_",), rb"hf_(?P<value>[A-Za-z0-9]{34,40})(?![A-Za-z0-9_])", _ALNUM + b"_"),
    _rule("inhouse access token", (b"ih_",), rb"ih_(?P<value>" + _TOKEN + rb"{43})(?!" + _TOKEN + rb")"),
    _rule("private key", (b"-----BEGIN",),
          rb"-----BEGIN[ A-Z]{0,20} PRIVATE KEY(?: BLOCK)?-----[ \t]{0,16}\r?\n"
          rb"(?:[A-Za-z\-]{1,40}:[^\n]{0,200}\n){0,6}[ \t\r\n]{0,8}(?P<value>" + _B64 + rb"{40})", b""),
    _rule("JSON Web Token", (b"eyJ",),
          rb"(?P<value>eyJ" + _TOKEN + rb"{10,1000}+\.eyJ" + _TOKEN + rb"{10,8000}+\." + _TOKEN
          + rb"{16,1000}+)(?![A-Za-z0-9_\-.])"),
    _rule("password or secret assignment", (b"pass", b"secret", b"api", b"token", b"private"),
          rb"(?i:password|passwd|passphrase|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|private[_\-]?key)"
          rb"[A-Za-z0-9_\-]{0,20}[\"']?[ \t]{0,4}(?::|=|:=|=>)[ \t]{0,4}(?P<quote>[\"'])"
          rb"(?P<value>[^\"'\s\\]{12,200})(?P=quote)", _ALNUM, lower=True),
)

_PLACEHOLDER_WORDS = re.compile(
    rb"(?i)example|sample|placeholder|your|xxxx|\*\*\*|\.\.\.|changeme|change_me|redacted|dummy|fake|token_here"
    rb"|secret_here|insert|replace|<|>|\$\{|\{\{|%\(|%s|\$[A-Z_]|process\.env|os\.environ|getenv|env\[")
_WORDS = re.compile(rb"[A-Za-z]+(?:[._\-][A-Za-z]+)*")
_CODE = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*[\[(]")  # a type hint or a call: Iterable[str], get_secret(...)


def _real(rule: Rule, m: re.Match[bytes]) -> bool:
    """Whether the match is a secret rather than a placeholder or a name: enough distinct characters, no
    placeholder words; a JWT's header must decode to a JSON object with "alg"; an assigned password must not be
    words alone (a variable or field name) nor code (a type hint, a call)."""
    if rule.kind == "private key":
        return True
    value = m.group("value") or m.group(0)
    if _PLACEHOLDER_WORDS.search(value) or len(set(value)) < MIN_DISTINCT:
        return False
    if rule.kind == "JSON Web Token":
        return _jwt_header_ok(value.split(b".", 1)[0])
    if rule.kind == "password or secret assignment":
        return not _WORDS.fullmatch(value) and not _CODE.match(value)
    return True


def _jwt_header_ok(part: bytes) -> bool:
    try:
        header = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(header, dict) and "alg" in header


def _matches(data: bytes, offset: int) -> list[tuple[int, str]]:
    """(position, kind) of every secret in data[offset:]."""
    lowered: bytes | None = None
    out: list[tuple[int, str]] = []
    for rule in RULES:
        if rule.lower and lowered is None:
            lowered = data.lower()
        haystack = lowered if rule.lower and lowered is not None else data
        for trigger, shift in rule.triggers:
            found = haystack.find(trigger, offset)
            while found >= 0:
                pos = found + shift
                if pos >= offset and not (pos > 0 and rule.edge and data[pos - 1] in rule.edge):
                    m = rule.pattern.match(data, pos)
                    if m is not None and _real(rule, m):
                        out.append((pos, rule.kind))
                found = haystack.find(trigger, found + 1)
    out.sort()
    return out


class _Findings:
    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.listed: list[dict[str, Any]] = []

    def scan(self, data: bytes, first_line: int, offset: int = 0) -> None:
        """Matches in data[offset:] (data starts at line `first_line`)."""
        line, pos = first_line, 0
        for start, kind in _matches(data, offset):
            line += data.count(b"\n", pos, start)
            pos = start
            if (kind, line) not in self.seen:
                self.seen.add((kind, line))
                if len(self.listed) < MAX_FINDINGS:
                    self.listed.append({"type": kind, "line": line})

    def outcome(self) -> ScanOutcome:
        return ScanOutcome("findings" if self.seen else "clean",
                           {"secrets": self.listed, "total": len(self.seen), "text": True})


def is_binary(head: bytes) -> bool:
    """A NUL byte in the first 8 KiB: not text (git's own test)."""
    return b"\x00" in head[:BINARY_PROBE_BYTES]


def _binary() -> ScanOutcome:
    return ScanOutcome("clean", {"secrets": [], "total": 0, "text": False})


def scan_bytes(data: bytes, name: str) -> ScanOutcome:
    """The secrets in a file's bytes (the server calls this in-process for small files)."""
    if is_binary(data):
        return _binary()
    found = _Findings()
    found.scan(data, 1)
    return found.outcome()


def scan(path: Path, name: str, options: dict[str, Any]) -> ScanOutcome:
    """The secrets in a file read in blocks of BLOCK_BYTES (memory bounded whatever its lines' lengths)."""
    found = _Findings()
    with open(path, "rb") as f:
        head = f.read(BINARY_PROBE_BYTES)
        if is_binary(head):
            return _binary()
        for data, line, offset in _blocks(head, f):
            found.scan(data, line, offset)
    return found.outcome()


def _blocks(head: bytes, f: Any) -> Iterator[tuple[bytes, int, int]]:
    """(data, its first line number, where new bytes start): blocks end at a line end; a block without one (a line
    longer than a block) is cut, and the next block repeats its last OVERLAP_BYTES so that a token across the cut
    is seen whole. A block whose last lines begin a PEM block carries them into the next one."""
    line = 1
    carry = b""
    pending = head
    while True:
        chunk = pending + f.read(BLOCK_BYTES)
        pending = b""
        if not chunk:
            if carry:
                yield carry, line, 0
            return
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line end in the whole block
            if len(data) < BLOCK_BYTES:
                carry = data
                continue
            yield data, line, 0
            carry = data[-OVERLAP_BYTES:]
            continue
        begin = data.rfind(b"-----BEGIN", max(0, cut - 16 * 1024), cut)
        if begin > 0 and len(data) - begin < 64 * 1024:
            cut = data.rfind(b"\n", 0, begin) + 1  # the PEM block's lines go with the next block
        if cut == 0:
            carry = data
            continue
        yield data[:cut], line, 0
        line += data.count(b"\n", 0, cut)
        carry = data[cut:]
