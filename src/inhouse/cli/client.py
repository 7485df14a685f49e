"""The commands that talk to a running inhouse over HTTP (`inhouse eval`, `inhouse jobs`): where it is, who is
asking, and one JSON request at a time. Standard library only (urllib): the CLI needs no HTTP client package.

The server is `--endpoint` or $INHOUSE_ENDPOINT, then $HF_ENDPOINT, then http://127.0.0.1:8000; the token is
`--token` or $INHOUSE_TOKEN, then $HF_TOKEN. An error answer becomes an InhouseError carrying the server's own
message (X-Error-Message or the JSON `error`), so `main` prints what the server said to do.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from inhouse.errors import BadRequest, InhouseError

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
TIMEOUT_S = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class ServerError(InhouseError):
    """An error answer from the server (its status and message), or no answer at all (status 0)."""

    code = "ServerError"

    def __init__(self, message: str, status: int = 0):
        super().__init__(message, status=status)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default=None,
                        help=f"the inhouse server (default $INHOUSE_ENDPOINT, $HF_ENDPOINT or {DEFAULT_ENDPOINT})")
    parser.add_argument("--token", default=None, help="an access token (default $INHOUSE_TOKEN or $HF_TOKEN)")


def server_options() -> argparse.ArgumentParser:
    """A parent parser holding --endpoint and --token, for the subcommands that talk to a server."""
    parent = argparse.ArgumentParser(add_help=False)
    add_server_options(parent)
    return parent


@dataclass(frozen=True)
class Client:
    endpoint: str
    token: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Client:
        endpoint = (getattr(args, "endpoint", None) or os.environ.get("INHOUSE_ENDPOINT")
                    or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadRequest(f"--endpoint must be an http(s) URL such as {DEFAULT_ENDPOINT}, not {endpoint[:100]!r}.")
        token = getattr(args, "token", None) or os.environ.get("INHOUSE_TOKEN") or os.environ.get("HF_TOKEN")
        return cls(endpoint.rstrip("/"), token or None)

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        q = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.endpoint}{path}{q}"

    def request(self, method: str, path: str, body: object | None = None, *,
                query: dict[str, str] | None = None) -> Any:
        """The JSON answer of `method path` (with `body` as JSON)."""
        raw = self.request_bytes(method, path, body, query=query)
        return json.loads(raw) if raw else None

    def request_bytes(self, method: str, path: str, body: object | None = None, *,
                      query: dict[str, str] | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path, query), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as answer:  # noqa: S310 - the URL is checked above
                return bytes(answer.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as e:
            message = e.headers.get("X-Error-Message") or ""
            if not message:
                try:
                    message = str(json.loads(e.read(65536)).get("error", ""))
                except (ValueError, AttributeError):
                    message = ""
            raise ServerError(f"{e.code}: {message or e.reason}", e.code) from None
        except urllib.error.URLError as e:
            raise ServerError(f"Could not reach inhouse at {self.endpoint} ({e.reason}); start it with "
                              "`inhouse serve` or pass --endpoint.") from None
