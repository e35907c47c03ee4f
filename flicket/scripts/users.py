"""``flicket-export-users`` and ``flicket-import-users``: move accounts between Flicket sites.

The file is Flicket's users file, unchanged: a JSON array of objects with the keys
``username``, ``name``, ``email`` and ``password`` (the bcrypt hash as text, e.g.
``$2b$12$...``), so accounts move between Flicket 0.3.x and this version both ways and
people keep their passwords.

An account that has no password (or no name or email) in the database is exported with
``null`` for it, and ``null`` is accepted on import: the imported account then has none
either (without a password nobody can log in to it until an administrator sets one). This
keeps export → import lossless; Flicket 0.3.5 itself could not export such accounts.

The import checks the whole file before it writes anything: a malformed file, a malformed
entry or a username/email that appears twice in the file imports nothing. Accounts whose
username or email already exists here (ignoring case) are skipped and listed.
"""

import json
import os
import re
import sys
import tempfile
import unicodedata

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from flicket import clock
from flicket.accounts.models import User
from flicket.i18n import _
from flicket.scripts.common import (
    EXIT_OK,
    CommandError,
    bootstrapped,
    make_parser,
    pluralize,
    require_schema,
    run_main,
    say,
)

KEYS = ("username", "name", "email", "password")
DEFAULT_FILE = "users.json"
USERNAME_LENGTH = (4, 24)
NAME_MAX = 60
EMAIL_MAX = 60
#: A bcrypt hash as Flicket (py-bcrypt / bcrypt) writes it: $2a$, $2b$ or $2y$, the cost
#: in two digits, then 53 characters of salt and digest.
BCRYPT_RE = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
MAX_LISTED_PROBLEMS = 20

_ALREADY_EXISTS = _("${path} already exists; use --force to overwrite it.")
#: One line of the problems of a users file: "entry 3 ('jane'): name contains ...".
_ENTRY_PROBLEM = _("${entry}: ${problem}")

FORMAT_HELP = (
    "File format (Flicket's users file): a JSON array of objects\n"
    '  [{"username": "jane", "name": "Jane Doe", "email": "jane@example.com",\n'
    '    "password": "$2b$12$<53 characters of bcrypt salt and hash>"}, ...]\n'
    "name, email and password may be null (an account that has none)."
)


# -- export -----------------------------------------------------------------------------------


def _text(value):
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("ascii", "replace")
    return str(value)


def export_rows(conn):
    """Every account as a users-file entry, in id order."""
    rows = conn.execute(
        sa.select(User.username, User.name, User.email, User.password).order_by(User.id)
    )
    return [
        {"username": username, "name": name, "email": email, "password": _text(password)}
        for username, name, email, password in rows
    ]


def write_users_file(path, entries, force=False):
    """Write ``entries`` to ``path`` ('-' is standard output); readable by the owner only.

    Without ``force`` an existing file is never replaced; with it the new file replaces
    the old one at once (never half written).
    """
    text = json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if os.path.isdir(path):
        raise CommandError(
            _("${path} is a directory; give a file name with -o.", mapping={"path": path})
        )
    if os.path.lexists(path) and not force:
        raise CommandError(_ALREADY_EXISTS % {"path": path})
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".users-", suffix=".json", dir=directory)
    except OSError as exc:
        raise CommandError(
            _(
                "cannot write in ${directory}: ${reason}",
                mapping={"directory": directory, "reason": str(exc.strerror)},
            )
        ) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        if force:
            os.replace(temporary, path)
        else:
            # link() fails if someone created the file meanwhile: never overwrite silently.
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise CommandError(_ALREADY_EXISTS % {"path": path}) from None
            except OSError:
                os.replace(temporary, path)  # a file system without hard links
    except OSError as exc:
        raise CommandError(
            _(
                "cannot write ${path}: ${reason}",
                mapping={"path": path, "reason": str(exc.strerror)},
            )
        ) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def run_export(args, out=print):
    with bootstrapped(args.config_uri) as env:
        require_schema(env["registry"]["dbengine"], "flicket_users")
        request = env["request"]
        with request.tm:
            entries = export_rows(request.dbsession)
    write_users_file(args.output, entries, force=args.force)
    without = sum(1 for entry in entries if entry["password"] is None)
    values = {
        "users": pluralize("${count} user", "${count} users", len(entries)),
        "file": args.output,
        "without": pluralize("${count} account", "${count} accounts", without),
    }
    if args.output != "-" and without:
        message = _(
            "Exported ${users} to ${file} (${without} without a password, written as null)."
        )
    elif args.output != "-":
        message = _("Exported ${users} to ${file}.")
    elif without:
        message = _("Exported ${users} (${without} without a password, written as null).")
    else:
        message = _("Exported ${users}.")
    # The summary goes to stderr when the JSON itself goes to standard output.
    (out if args.output != "-" else _to_stderr)(say(message % values))
    return EXIT_OK


def _to_stderr(message):
    print(message, file=sys.stderr)


def export_parser():
    parser = make_parser(
        "flicket-export-users",
        "Write every user account (username, name, email, password hash) to a JSON file "
        "that flicket-import-users, here or on another Flicket site, can read.",
        epilog=FORMAT_HELP + "\n\nThe file holds password hashes: it is created readable "
        "by you only; keep it safe.",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=DEFAULT_FILE,
        help=f"the file to write (default: {DEFAULT_FILE}; '-' writes to standard output)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite the file if it already exists"
    )
    return parser


def export_main(argv=None):
    """``flicket-export-users <ini> [-o FILE] [--force]``"""
    return run_main("flicket-export-users", export_parser(), run_export, argv)


# -- import -----------------------------------------------------------------------------------


def _control_characters(text):
    return any(unicodedata.category(c)[0] == "C" for c in text)


def clean_entry(entry):
    """``(values, problems)``: the normalised values of one entry, or what is wrong with it
    (messages to translate)."""
    if not isinstance(entry, dict):
        return None, [
            _("is a JSON ${type}, not an object", mapping={"type": type(entry).__name__})
        ]
    missing = [key for key in KEYS if key not in entry]
    if missing:
        return None, [
            pluralize(
                "lacks the key ${keys}",
                "lacks the keys ${keys}",
                len(missing),
                keys=", ".join(missing),
            )
        ]
    problems = []
    for key in KEYS:
        value = entry[key]
        if not (isinstance(value, str) or (value is None and key != "username")):
            if key == "username":
                problem = _("${key} must be a string, not ${value}")
            else:
                problem = _("${key} must be a string or null, not ${value}")
            problems.append(problem % {"key": key, "value": json.dumps(value)[:40]})
    if problems:
        return None, problems

    username = unicodedata.normalize("NFKC", entry["username"]).strip()
    low, high = USERNAME_LENGTH
    if not low <= len(username) <= high:
        problems.append(
            _(
                "username must be ${low} to ${high} characters long",
                mapping={"low": low, "high": high},
            )
        )
    elif "@" in username:
        problems.append(_("username must not contain '@'"))
    elif _control_characters(username):
        problems.append(_("username contains control characters"))

    name = entry["name"]
    if name is not None:
        name = unicodedata.normalize("NFC", name).strip()
        if len(name) > NAME_MAX:
            problems.append(_("name is longer than ${max} characters", mapping={"max": NAME_MAX}))
        elif _control_characters(name):
            problems.append(_("name contains control characters"))

    email = (entry["email"] or "").strip() or None
    if email is not None:
        if len(email) > EMAIL_MAX:
            problems.append(
                _("email is longer than ${max} characters", mapping={"max": EMAIL_MAX})
            )
        else:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError:
                problems.append(
                    _("email ${email} is not a valid address", mapping={"email": repr(email)})
                )

    password = entry["password"]
    if password is not None and not BCRYPT_RE.fullmatch(password):
        problems.append(_("password is not a bcrypt hash ($2b$12$ and 53 characters)"))
    values = {"username": username, "name": name or None, "email": email, "password": password}
    return (None if problems else values), problems


def _describe(index, entry):
    username = entry.get("username") if isinstance(entry, dict) else None
    if isinstance(username, str):
        return _(
            "entry ${index} (${username})", mapping={"index": index, "username": repr(username)}
        )
    return _("entry ${index}", mapping={"index": index})


def parse_users_file(text, source):
    """The cleaned entries of a users file; CommandError listing every problem otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            _(
                "${source} is not valid JSON (line ${line}, column ${column}: ${reason}); "
                "nothing was imported.",
                mapping={
                    "source": source,
                    "line": exc.lineno,
                    "column": exc.colno,
                    "reason": exc.msg,
                },
            )
        ) from None
    if not isinstance(data, list):
        raise CommandError(
            _(
                "${source} must hold a JSON array of users, not a JSON ${type}; "
                "nothing was imported.",
                mapping={"source": source, "type": type(data).__name__},
            )
        )
    problems = []
    cleaned = []
    first_seen = {}
    for index, entry in enumerate(data, start=1):
        values, entry_problems = clean_entry(entry)
        where = _describe(index, entry)
        problems += [say(_ENTRY_PROBLEM % {"entry": where, "problem": p}) for p in entry_problems]
        if values is None:
            continue
        for key in ("username", "email"):
            if values[key] is None:
                continue
            seen = first_seen.setdefault((key, values[key].lower()), index)
            if seen != index:
                also = _(
                    "${key} ${value} is also in entry ${seen}",
                    mapping={"key": key, "value": repr(values[key]), "seen": seen},
                )
                problems.append(say(_ENTRY_PROBLEM % {"entry": where, "problem": also}))
        cleaned.append(values)
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > len(listed):
            more = _("... and ${count} more", mapping={"count": len(problems) - len(listed)})
            listed.append(say(more))
        summary = _(
            "${source}: ${problems}; nothing was imported.",
            mapping={
                "source": source,
                "problems": pluralize("${count} problem", "${count} problems", len(problems)),
            },
        )
        raise CommandError(say(summary) + "\n  " + "\n  ".join(listed))
    return cleaned


def read_users_file(path):
    source = say(_("standard input")) if path == "-" else path
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as stream:
                raw = stream.read()
    except FileNotFoundError:
        raise CommandError(
            _("${path} does not exist; nothing was imported.", mapping={"path": path})
        ) from None
    except IsADirectoryError:
        raise CommandError(
            _("${path} is a directory, not a users file.", mapping={"path": path})
        ) from None
    except OSError as exc:
        raise CommandError(
            _(
                "cannot read ${path}: ${reason}.",
                mapping={"path": path, "reason": str(exc.strerror)},
            )
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CommandError(
            _("${source} is not UTF-8 text; nothing was imported.", mapping={"source": source})
        ) from None
    return parse_users_file(text, source)


def plan_import(conn, entries):
    """``(to_create, skipped)``: skipped holds ``(username, reason)`` for every entry whose
    username or email (ignoring case) is already a login of an existing account (the
    reason is a message to translate)."""
    taken = {}
    for user_id, username, email in conn.execute(sa.select(User.id, User.username, User.email)):
        for login in (username, email):
            if login:
                taken.setdefault(login.lower(), (login, username or f"#{user_id}"))
    to_create, skipped = [], []
    for values in entries:
        if values["username"].lower() in taken:
            skipped.append((values["username"], _("the username already exists")))
        elif values["email"] and values["email"].lower() in taken:
            _login, owner = taken[values["email"].lower()]
            skipped.append(
                (
                    values["username"],
                    _(
                        "the email ${email} belongs to ${owner}",
                        mapping={"email": values["email"], "owner": repr(owner)},
                    ),
                )
            )
        else:
            to_create.append(values)
    return to_create, skipped


def create_users(session, entries):
    now = clock.utcnow()
    for values in entries:
        session.add(
            User(
                username=values["username"],
                name=values["name"],
                email=values["email"],
                password=values["password"].encode("ascii") if values["password"] else None,
                date_added=now,
                locale="en",
                disabled=False,
                total_posts=0,
                total_assigned=0,
            )
        )
    session.flush()


def run_import(args, out=print):
    entries = read_users_file(args.file)
    with bootstrapped(args.config_uri) as env:
        require_schema(env["registry"]["dbengine"], "flicket_users")
        request = env["request"]
        with request.tm:
            to_create, skipped = plan_import(request.dbsession, entries)
            if not args.dry_run:
                create_users(request.dbsession, to_create)
    for username, reason in skipped:
        out(
            say(
                _(
                    "Skipped ${username}: ${reason}.",
                    mapping={"username": username, "reason": reason},
                )
            )
        )
    for values in to_create:
        if values["email"] and args.dry_run:
            line = _("Would import ${username} <${email}>")
        elif values["email"]:
            line = _("Imported ${username} <${email}>")
        elif args.dry_run:
            line = _("Would import ${username}")
        else:
            line = _("Imported ${username}")
        out(say(line % {"username": values["username"], "email": values["email"]}))
    if args.dry_run:
        summary = _(
            "Would import ${users}, skipped ${skipped} (of ${entries} in ${file}). "
            "Dry run: nothing was written."
        )
    else:
        summary = _("Imported ${users}, skipped ${skipped} (of ${entries} in ${file}).")
    summary = summary % {
        "users": pluralize("${count} user", "${count} users", len(to_create)),
        "skipped": len(skipped),
        "entries": pluralize("${count} entry", "${count} entries", len(entries)),
        "file": _("standard input") if args.file == "-" else args.file,
    }
    out(say(summary))
    return EXIT_OK


def import_parser():
    parser = make_parser(
        "flicket-import-users",
        "Create the user accounts listed in a users file written by flicket-export-users "
        "(or by Flicket's export-users-to-json). Accounts keep their password hashes, so "
        "people log in with their old passwords. The whole file is checked first: if any "
        "entry is malformed nothing is imported. Accounts whose username or email already "
        "exists are skipped and listed. New accounts get the locale en and are enabled.",
        epilog=FORMAT_HELP,
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default=DEFAULT_FILE,
        help=f"the users file (default: {DEFAULT_FILE}; '-' reads standard input)",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and report; create nothing")
    return parser


def import_main(argv=None):
    """``flicket-import-users <ini> [FILE] [--dry-run]``"""
    return run_main("flicket-import-users", import_parser(), run_import, argv)


if __name__ == "__main__":
    sys.exit(export_main())
