"""The HTTP server `inhouse serve` runs: uvicorn with inhouse's connection limits and an access log that
never shows the signature of a signed link."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from inhouse.cli.http_protocol import GuardedHttpToolsProtocol
from inhouse.config import Settings

KEEP_ALIVE_S = 30

# Query parameters whose values grant access: signed LFS and Xet links (sig), and tokens some clients put in URLs.
_SECRET_QUERY = re.compile(
    r"([?&](?:sig|signature|token|access_token|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s]*",
    re.IGNORECASE)


def redact(target: str) -> str:
    """`/api/lfs-transfer/1/…/get?exp=1&sig=abc` → `…?exp=1&sig=REDACTED`."""
    return _SECRET_QUERY.sub(r"\1REDACTED", target)


class RedactSecrets(logging.Filter):
    """Rewrites uvicorn's access log records (client, method, target, HTTP version, status): the target's
    secret query values become REDACTED."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with RedactSecrets on the access log handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"].setdefault("filters", []).append("redact_secrets")
    return config


def run(app: Any, settings: Settings, *, log_level: str, access_log: bool) -> None:
    """Serves `app` on settings.host:settings.port until interrupted."""
    import uvicorn

    protocol = GuardedHttpToolsProtocol.configured(
        max_header_bytes=settings.max_header_bytes, header_timeout_s=settings.header_timeout_s,
        drain_timeout_s=settings.body_idle_timeout_s)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=access_log,
                log_config=log_config(), http=protocol, ws="none", timeout_keep_alive=KEEP_ALIVE_S,
                proxy_headers=False)  # X-Forwarded-* are the app's business: only from INHOUSE_TRUSTED_PROXIES
