"""Placeholder: filled in by the organisations/tokens work."""

from __future__ import annotations

from inhouse.web.routing import Router


def register(router: Router) -> None:
    pass
