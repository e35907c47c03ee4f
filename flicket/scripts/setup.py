"""``flicket-setup <ini>``: create or upgrade the database, seed it, create the admin.

Interactive by default; ``--no-input`` and the flags make it fully scriptable. Running it
again changes nothing and says so. Prompts and reports are in the language of the
operator's terminal (``LANG``...; English by default); the argparse help stays English.
"""

import argparse
import getpass
import secrets
import sys

from pyramid.paster import bootstrap, setup_logging

from flicket.i18n import _
from flicket.install import SetupError, create_admin, find_admins, seed, upgrade_database
from flicket.scripts.common import say
from flicket.settings import ConfigurationError


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="flicket-setup",
        description="Create or upgrade the Flicket database (a Flicket 0.3.x database is "
        "adopted without losing a row), add the seed data and the first administrator.",
    )
    parser.add_argument("config_uri", help="the ini file, e.g. development.ini")
    parser.add_argument(
        "--admin-username", default=None, help="administrator's username (default: admin)"
    )
    parser.add_argument("--admin-email", default=None, help="administrator's email address")
    parser.add_argument(
        "--admin-password",
        default=None,
        help="administrator's password; without it you are asked, or with --no-input a "
        "strong one is generated and printed",
    )
    parser.add_argument(
        "--base-url", default=None, help="public address, e.g. https://desk.example.com"
    )
    parser.add_argument(
        "--no-input", action="store_true", help="never ask; use flags and defaults"
    )
    return parser.parse_args(argv)


def _ask(prompt, default=None):
    suffix = f" [{default}]" if default else ""
    answer = input(f"{say(prompt)}{suffix}: ").strip()
    return answer or default


def _ask_password(accounts, username, email):
    from flicket.accounts.models import User

    candidate = User(username=username, name=username, email=email)
    while True:
        password = getpass.getpass(say(_("Administrator password: ")))
        problems = accounts.password_problems(password, candidate)
        if problems:
            print(" ".join(say(problem) for problem in problems), file=sys.stderr)
            continue
        if getpass.getpass(say(_("Repeat the password: "))) != password:
            print(say(_("The two passwords differ; try again.")), file=sys.stderr)
            continue
        return password


def run(args, out=print):
    env = bootstrap(args.config_uri)
    try:
        request = env["request"]
        registry = env["registry"]
        changes = upgrade_database(registry["dbengine"])
        interactive = not args.no_input and sys.stdin is not None and sys.stdin.isatty()
        with request.tm:
            dbsession = request.dbsession
            base_url = args.base_url
            if base_url is None and interactive and request.flicket_config is None:
                base_url = _ask(_("Public address of this site"), "http://localhost:6543")
            changes += seed(dbsession, base_url)
            if find_admins(dbsession):
                if args.admin_password or args.admin_username:
                    out(
                        say(_("An administrator already exists; --admin-* options were not used."))
                    )
            else:
                username = args.admin_username or (
                    _ask(_("Administrator username"), "admin") if interactive else "admin"
                )
                email = args.admin_email or (
                    _ask(_("Administrator email")) if interactive else None
                )
                password = args.admin_password
                generated = False
                if password is None:
                    if interactive:
                        password = _ask_password(request.accounts, username, email)
                    else:
                        password = secrets.token_urlsafe(15)
                        generated = True
                create_admin(dbsession, request.accounts, username, email, password)
                changes.append(
                    _(
                        "Created the administrator ${username}.",
                        mapping={"username": repr(username)},
                    )
                )
                if generated:
                    changes.append(
                        _(
                            "Log in as ${username} with this generated password "
                            "(shown once; change it after logging in): ${password}",
                            mapping={"username": repr(username), "password": password},
                        )
                    )
    finally:
        env["closer"]()
    if changes:
        for line in changes:
            out(say(line))
    else:
        out(
            say(
                _(
                    "Nothing to do: the database is up to date and the seed data and "
                    "administrator exist."
                )
            )
        )
    return changes


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        setup_logging(args.config_uri)
        run(args)
    except SetupError as exc:
        print(f"flicket-setup: {say(exc.message)}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"flicket-setup: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        message = _("cannot read ${file}", mapping={"file": str(exc.filename)})
        print(f"flicket-setup: {say(message)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
