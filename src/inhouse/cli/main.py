"""The `inhouse` command: serve (the default), users, tokens, orgs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from inhouse.cli import audit as audit_cli
from inhouse.cli import db as db_cli
from inhouse.cli import eval as eval_cli
from inhouse.cli import jobs as jobs_cli
from inhouse.cli import orgs as orgs_cli
from inhouse.cli import storage as storage_cli
from inhouse.config import Settings
from inhouse.errors import BadRequest, InhouseError, NotFound
from inhouse.vocabulary import Permission, Scope, ScopeKind, TokenRole

if TYPE_CHECKING:
    from inhouse.services.context import Stores  # at run time it is imported by the command, as the services are


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=getattr(args, "data", None), database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None), port=getattr(args, "port", None),
    )


def _stores(args: argparse.Namespace, *, create: bool = False) -> Stores:
    """The stores of the data folder. Only `serve` and `users create` may start a new, empty one: any other
    command pointed at a folder that does not exist (a typo) fails instead of creating keys and a database."""
    from inhouse.services.context import Stores

    settings = _settings(args)
    if not create and not settings.data_dir.exists():
        raise NotFound(f"No inhouse data folder at {settings.data_dir.resolve()}: pass --data DIR (or set "
                       "INHOUSE_DATA_DIR), or create it with `inhouse users create NAME --admin`.")
    return Stores.open(settings)


def cmd_serve(args: argparse.Namespace) -> int:
    from inhouse.app import create_app
    from inhouse.cli import server
    from inhouse.services import users

    settings = _settings(args)
    try:
        app = create_app(settings)
    except ValueError as e:  # a malformed INHOUSE_TRUSTED_PROXIES or INHOUSE_ALLOWED_HOSTS
        raise BadRequest(str(e)) from None
    url = settings.public_url or f"http://{settings.host}:{settings.port}"
    if not users.list_users(app.stores):
        hint = (f"  No users yet. Create one and a token:\n"
                f"    inhouse users create alice --admin --data {settings.data_dir}\n"
                f"    inhouse tokens create --user alice --role write --data {settings.data_dir}")
    else:
        hint = f"  Get a token: inhouse tokens create --user NAME --role write --data {settings.data_dir}"
    print(f"inhouse is serving at {url}\n  data: {settings.data_dir.resolve()}\n"
          f"  use it: export HF_ENDPOINT={url} HF_TOKEN=<token>\n{hint}", flush=True)
    if not settings.public_url and not settings.allowed_hosts and settings.host in ("0.0.0.0", "::", ""):
        print("  note: requests are answered only when their Host is the address they reached (e.g. "
              f"10.0.0.5:{settings.port}); if clients use a name, set INHOUSE_PUBLIC_URL (or INHOUSE_ALLOWED_HOSTS)",
              flush=True)
    server.run(app, settings, log_level=args.log_level, access_log=args.access_log)
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from inhouse.services import users

    u = users.create_user(_stores(args, create=True), args.name, fullname=args.fullname or "", email=args.email, admin=args.admin)
    print(f"created user {u.name}{' (admin)' if u.is_admin else ''}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from inhouse.services import users

    for u in users.list_users(_stores(args)):
        if u.kind != "user":
            continue  # organisations: `inhouse orgs list`
        print(f"{u.name}\t{'admin' if u.is_admin else ''}")
    return 0


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from inhouse.services import users

    scopes = [_parse_scope(s) for s in args.scope]
    if scopes and args.role is not TokenRole.FINE_GRAINED:
        raise BadRequest("--scope is for fine-grained tokens: add --role fine-grained.")
    _, secret = users.create_token(_stores(args), args.user, role=args.role, name=args.name, scopes=scopes,
                                   expires_in_s=args.expires_in_days * 86400 if args.expires_in_days else None)
    print(secret)
    return 0


def _parse_scope(text: str) -> Scope:
    """TYPE:NAME:perm1,perm2 (names never hold ':')."""
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise BadRequest(f"Invalid --scope '{text}': use TYPE:NAME:PERMISSIONS, e.g. "
                         "repo:acme/bert:repo.content.read,repo.write or org:acme:repo.content.read.")
    return Scope.parse({"type": parts[0], "name": parts[1], "permissions": [p for p in parts[2].split(",") if p]})


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else "-"


def cmd_tokens_list(args: argparse.Namespace) -> int:
    from inhouse.services import users

    now = time.time()
    for t in users.list_tokens(_stores(args), args.user):
        state = "revoked" if t.revoked_at else "expired" if t.expires_at and t.expires_at <= now else "active"
        scopes = " ".join(f"{s.kind}:{s.name}:{','.join(sorted(s.permissions))}" for s in t.scopes) or "-"
        print(f"{t.id}\t{t.name}\t{t.role}\t{t.hint}…\t{state}\texpires={_when(t.expires_at)}"
              f"\tlast-used={_when(t.last_used_at)}\tscopes={scopes}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from inhouse.services import users

    users.revoke_token(_stores(args), args.id)
    print(f"revoked token {args.id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inhouse", description="The open-model hub that keeps your AI in-house.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=None,
                        help="data folder (default ./inhouse-data, or $INHOUSE_DATA_DIR / $INHOUSE_DATA)")
    common.add_argument("--database-url", default=None,
                        help="sqlite:///… or postgresql://… (default: SQLite in the data folder; $INHOUSE_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", parents=[common], help="run the hub (the default command)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--no-access-log", dest="access_log", action="store_false", help="do not log every request")
    serve.set_defaults(func=cmd_serve)

    users_p = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    uc = users_p.add_parser("create", parents=[common], help="create a user")
    uc.add_argument("name")
    uc.add_argument("--admin", action="store_true", help="make the user an administrator")
    uc.add_argument("--fullname", default=None)
    uc.add_argument("--email", default=None)
    uc.set_defaults(func=cmd_users_create)
    users_p.add_parser("list", parents=[common], help="list users").set_defaults(func=cmd_users_list)

    tokens_p = sub.add_parser("tokens", help="manage access tokens").add_subparsers(dest="tokens_command",
                                                                                   required=True)
    tc = tokens_p.add_parser("create", parents=[common], help="create a token; prints it alone on stdout")
    tc.add_argument("--user", required=True)
    tc.add_argument("--role", required=True, type=TokenRole, choices=list(TokenRole))
    tc.add_argument("--name", default=None, help="a label to recognise the token by")
    tc.add_argument("--scope", action="append", default=[], metavar="TYPE:NAME:PERMS",
                    help=f"fine-grained tokens: repeatable; TYPE {'|'.join(ScopeKind)}, NAME e.g. acme/bert or "
                         "datasets/acme/data or acme, PERMS comma-separated from "
                         f"{', '.join(Permission)}")
    tc.add_argument("--expires-in-days", type=float, default=None)
    tc.set_defaults(func=cmd_tokens_create)
    tl = tokens_p.add_parser("list", parents=[common], help="list a user's tokens (never their secrets)")
    tl.add_argument("--user", required=True)
    tl.set_defaults(func=cmd_tokens_list)
    tr = tokens_p.add_parser("revoke", parents=[common], help="revoke a token by id")
    tr.add_argument("id", type=int)
    tr.set_defaults(func=cmd_tokens_revoke)
    orgs_cli.register(sub, common)
    audit_cli.register(sub, common)
    storage_cli.register(sub, common)
    db_cli.register(sub, common)
    eval_cli.register(sub)
    jobs_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    os.umask(0o077)  # everything the server and the commands create in the data folder is the service account's
    if "INHOUSE_DATA" in os.environ and "INHOUSE_DATA_DIR" not in os.environ:
        os.environ["INHOUSE_DATA_DIR"] = os.environ["INHOUSE_DATA"]
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.command is None:
        args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    try:
        return int(args.func(args))
    except InhouseError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
