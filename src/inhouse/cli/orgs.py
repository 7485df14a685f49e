"""`inhouse orgs …`: organisations, their members and resource groups, for the operator who holds the data folder.

The CLI acts as the local operator (like a site admin); its changes are audited with no actor.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from inhouse.vocabulary import RepoType, Role

if TYPE_CHECKING:
    from inhouse.services.context import Stores  # at run time it is imported by the command, as the services are


def _stores(args: argparse.Namespace) -> Stores:
    from inhouse.cli.main import _stores as open_stores

    return open_stores(args)


def cmd_create(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    org = orgs.create_org(_stores(args), args.name, fullname=args.fullname or "", admin=args.admin)
    print(f"created organisation {org.name} (admin: {args.admin})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    for o in orgs.list_orgs(_stores(args)):
        print(f"{o.name}\t{o.fullname}")
    return 0


def cmd_members_add(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    m = orgs.set_member(_stores(args), args.org, args.user, args.role)
    print(f"{m.name} is {m.role} in {args.org}")
    return 0


def cmd_members_remove(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    orgs.remove_member(_stores(args), args.org, args.user)
    print(f"removed {args.user} from {args.org}")
    return 0


def cmd_members_list(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    for m in orgs.list_members(_stores(args), args.org):
        print(f"{m.name}\t{m.role}")
    return 0


def cmd_groups_create(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    g = orgs.create_group(_stores(args), args.org, args.name, description=args.description or "")
    print(f"created resource group {g.name} in {args.org}")
    return 0


def cmd_groups_delete(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    orgs.delete_group(_stores(args), args.org, args.name)
    print(f"deleted resource group {args.name} of {args.org}")
    return 0


def cmd_groups_list(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    for v in orgs.list_groups(_stores(args), args.org):
        members = ", ".join(f"{m.name}({m.role})" for m in v.members) or "-"
        repos = ", ".join(r.url_path for r in v.repos) or "-"
        print(f"{v.group.name}\tmembers: {members}\trepos: {repos}")
    return 0


def cmd_groups_add_member(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    m = orgs.set_group_member(_stores(args), args.org, args.group, args.user, args.role)
    print(f"{m.name} is {m.role} in resource group {args.group} of {args.org}")
    return 0


def cmd_groups_remove_member(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    orgs.remove_group_member(_stores(args), args.org, args.group, args.user)
    print(f"removed {args.user} from resource group {args.group} of {args.org}")
    return 0


def cmd_groups_add_repo(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    repo = orgs.add_group_repo(_stores(args), args.org, args.group, args.repo_id, repo_type=args.type)
    print(f"{repo.url_path} is in resource group {args.group} of {args.org}")
    return 0


def cmd_groups_remove_repo(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    orgs.remove_group_repo(_stores(args), args.org, args.group, args.repo_id, repo_type=args.type)
    print(f"removed {args.repo_id} from resource group {args.group} of {args.org}")
    return 0


def cmd_default_private(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    value = {"on": True, "off": False, "site": None}[args.value]
    v = orgs.set_default_private(_stores(args), args.org, value)
    print(f"new repos of {args.org} are {'private' if v.new_repos_private else 'public'} unless their creator "
          f"says otherwise ({'the site-wide default' if v.default_private is None else 'its own setting'})")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from inhouse.services import orgs

    v = orgs.get_settings(_stores(args), args.org)
    own = "site" if v.default_private is None else "on" if v.default_private else "off"
    print(f"default-private\t{own}\t(new repos: {'private' if v.new_repos_private else 'public'})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    orgs_p = sub.add_parser("orgs", help="manage organisations, members and resource groups").add_subparsers(
        dest="orgs_command", required=True)

    c = orgs_p.add_parser("create", parents=[common], help="create an organisation with its first admin")
    c.add_argument("name")
    c.add_argument("--admin", required=True, metavar="USER", help="the user who becomes its first admin")
    c.add_argument("--fullname", default=None)
    c.set_defaults(func=cmd_create)
    orgs_p.add_parser("list", parents=[common], help="list organisations").set_defaults(func=cmd_list)
    dp = orgs_p.add_parser("set-default-private", parents=[common],
                           help="whether the organisation's new repos are private unless asked otherwise")
    dp.add_argument("org")
    dp.add_argument("value", choices=["on", "off", "site"],
                    help="on: private, off: public, site: follow INHOUSE_NEW_REPOS_PRIVATE")
    dp.set_defaults(func=cmd_default_private)
    st = orgs_p.add_parser("settings", parents=[common], help="show an organisation's settings")
    st.add_argument("org")
    st.set_defaults(func=cmd_settings)

    members = orgs_p.add_parser("members", help="an organisation's members").add_subparsers(
        dest="members_command", required=True)
    ma = members.add_parser("add", parents=[common], help="add a member, or change a member's role")
    ma.add_argument("org")
    ma.add_argument("user")
    ma.add_argument("--role", required=True, type=Role, choices=list(Role))
    ma.set_defaults(func=cmd_members_add)
    mr = members.add_parser("remove", parents=[common], help="remove a member (not the last admin)")
    mr.add_argument("org")
    mr.add_argument("user")
    mr.set_defaults(func=cmd_members_remove)
    ml = members.add_parser("list", parents=[common], help="list members and their roles")
    ml.add_argument("org")
    ml.set_defaults(func=cmd_members_list)

    groups = orgs_p.add_parser("groups", help="resource groups: a role on a set of the org's repos").add_subparsers(
        dest="groups_command", required=True)
    gc = groups.add_parser("create", parents=[common], help="create a resource group")
    gc.add_argument("org")
    gc.add_argument("name")
    gc.add_argument("--description", default=None)
    gc.set_defaults(func=cmd_groups_create)
    gd = groups.add_parser("delete", parents=[common], help="delete a resource group (its repos stay)")
    gd.add_argument("org")
    gd.add_argument("name")
    gd.set_defaults(func=cmd_groups_delete)
    gl = groups.add_parser("list", parents=[common], help="list resource groups with their members and repos")
    gl.add_argument("org")
    gl.set_defaults(func=cmd_groups_list)
    gam = groups.add_parser("add-member", parents=[common], help="give an org member a role on the group's repos")
    gam.add_argument("org")
    gam.add_argument("group")
    gam.add_argument("user")
    gam.add_argument("--role", required=True, type=Role, choices=list(Role))
    gam.set_defaults(func=cmd_groups_add_member)
    grm = groups.add_parser("remove-member", parents=[common], help="remove a member from a group")
    grm.add_argument("org")
    grm.add_argument("group")
    grm.add_argument("user")
    grm.set_defaults(func=cmd_groups_remove_member)
    for verb, func, what in (("add-repo", cmd_groups_add_repo, "put one of the org's repos in the group"),
                             ("remove-repo", cmd_groups_remove_repo, "take a repo out of the group")):
        g = groups.add_parser(verb, parents=[common], help=what)
        g.add_argument("org")
        g.add_argument("group")
        g.add_argument("repo_id", metavar="REPO_ID", help="org/name")
        g.add_argument("--type", type=RepoType, default=RepoType.MODEL, choices=list(RepoType))
        g.set_defaults(func=func)
