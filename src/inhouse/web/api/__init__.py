"""inhouse's own JSON API (organisations, resource groups, tokens, …): HTTP adapters only; services do the work."""

from __future__ import annotations

from inhouse.web.api import (audit, evaluations, factsheets, governance, jobs, lifecycle, orgs, policies, tokens,
                             use_cases, webhooks)
from inhouse.web.routing import Router


def register_all(router: Router) -> None:
    for module in (orgs, tokens, audit, jobs, evaluations, webhooks, lifecycle, governance, policies, use_cases,
                   factsheets):
        module.register(router)
