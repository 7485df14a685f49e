"""A small router that matches the raw (still percent-encoded) path, so that %2F inside a segment survives."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inhouse.web.params import unquote_strict

if TYPE_CHECKING:
    from starlette.responses import Response

    from inhouse.web.context import Ctx

Handler = Callable[["Ctx"], Awaitable["Response"]]

REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+?)"
API_REPO = r"/api/(?P<plural>models|datasets|spaces)/" + REPO
WEB_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?" + REPO
# A repo id without a namespace ('gpt2') where a repo route expects 'namespace/name': the Hub API paths the client
# builds with such an id (`/api/models/gpt2`, `…/gpt2/revision/main`, `…/gpt2/tree/main`, `/gpt2/resolve/…` …).
# No route matches them (each needs two segments), so they are fallbacks (Router.add_fallback).
_API_SUFFIXES = ("revision|tree|refs|commits|commit|paths-info|preupload|branch|tag|discussions|settings|"
                 "xet-read-token|xet-write-token|lfs-files|super-squash|likers|like|auth-check|user-access-request|"
                 "safetensors-metadata|resolve|treesize|compare|leaderboard")
API_SINGLE = r"/api/(?P<plural>models|datasets|spaces)/(?P<single>[^/]+)(?:/(?:" + _API_SUFFIXES + r")(?:/.*)?)?"
WEB_SINGLE = (r"/(?:(?P<prefix>datasets|spaces)/)?(?P<single>[^/]+)"
              r"/(?:resolve|blob|raw|tree|commit|commits|discussions|ask-access)(?:/.*)?")


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.fallbacks: list[Route] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        self.routes.append(Route(frozenset(methods.split("|")), re.compile(f"^{pattern}$"), handler))

    def add_fallback(self, pattern: str, handler: Handler) -> None:
        """A handler for paths that no route matches with any method (e.g. a repo id without a namespace, which
        every repo route needs): it answers them, whatever the method, instead of "Nothing is served"."""
        self.fallbacks.append(Route(frozenset(), re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, raw_path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """(handler, raw params, path_matched_other_method)."""
        other = False
        for r in self.routes:
            m = r.pattern.match(raw_path)
            if m is None:
                continue
            if method in r.methods or (method == "HEAD" and "GET" in r.methods and "HEAD" not in r.methods):
                return r.handler, {k: v for k, v in m.groupdict().items() if v is not None}, False
            other = True
        if not other:
            for r in self.fallbacks:
                m = r.pattern.match(raw_path)
                if m is not None:
                    return r.handler, {k: v for k, v in m.groupdict().items() if v is not None}, False
        return None, {}, other


def split_revision(raw_rest: str) -> tuple[str, str]:
    """'main/sub%2Fdir' → ('main', 'sub/dir'); 'refs%2Fpr%2F1/x' and literal 'refs/pr/1/x' → ('refs/pr/1', 'x').
    Invalid UTF-8 and control characters are a 400 (`unquote_strict`)."""
    parts = raw_rest.split("/")
    n = 3 if len(parts) >= 3 and parts[0] == "refs" and parts[1] in ("pr", "convert", "heads", "tags") else 1
    rev = unquote_strict("/".join(parts[:n]), "revision")
    path = unquote_strict("/".join(parts[n:]), "file path")
    return rev, path
