"""The console commands (export/import users, counters, outstanding-tickets mail, populate),
run in-process against a scratch database of the test database's kind.

The scratch database is the one ``test_setup.py`` uses (a temporary SQLite file, or
``<test database>_scratch`` on the MariaDB/PostgreSQL server): each test makes sure it has
the current schema, empties it and seeds it as ``flicket-setup`` would, then writes a small
ini file pointing at it.
"""

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pyramid import paster
from pyramid_mailer.interfaces import IMailer
from sqlalchemy.orm import Session

from flicket import clock, models
from flicket.accounts.passwords import hash_password, verify_password
from flicket.db import get_engine
from flicket.install import alembic_config, seed, upgrade_database
from flicket.scripts import counters, outstanding, populate, users
from tests.conftest import BCRYPT_TEST_ROUNDS, PASSWORD, empty_database
from tests.databases import drop_database, server_admin_engine

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
BASE_URL = "https://desk.example.com"
COMMANDS = {
    "flicket-export-users": users.export_main,
    "flicket-import-users": users.import_main,
    "flicket-update-user-posts": counters.posts_main,
    "flicket-update-user-assigned": counters.assigned_main,
    "flicket-email-outstanding-tickets": outstanding.main,
    "flicket-populate": populate.main,
}


# -- the scratch site -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def command_engine(db_url, tmp_path_factory):
    """An engine on the scratch database (created when missing, dropped at the end)."""
    url = sa.engine.make_url(db_url)
    admin = None
    if url.get_backend_name() == "sqlite":
        scratch = url.set(database=str(tmp_path_factory.mktemp("commands") / "scratch.sqlite"))
    else:
        scratch = url.set(database=f"{url.database}_scratch")
        admin = server_admin_engine(url)
        name = admin.dialect.identifier_preparer.quote(scratch.database)
        with admin.connect() as conn:
            if url.get_backend_name() == "mysql":
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS {name} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            elif not conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": scratch.database},
            ):
                conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'UTF8'")
    engine = get_engine({"sqlalchemy.url": scratch.render_as_string(hide_password=False)})
    yield engine
    engine.dispose()
    if admin is not None:
        drop_database(admin, scratch)
        admin.dispose()


def _at_head(engine):
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_heads() == (HEAD,)


def clear_data(engine):
    """Delete every row of every application table (the schema stays)."""
    tables = list(reversed(models.Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.execute(table.delete())


@dataclass
class Site:
    engine: sa.Engine
    ini: str
    directory: Path
    registries: list = field(default_factory=list)

    def session(self):
        return Session(self.engine, expire_on_commit=False)

    def outbox(self):
        """The messages the last command delivered (``flicket.mail.mode = dummy``)."""
        return self.registries[-1].getUtility(IMailer).delivery.outbox

    def count(self, model):
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(model))

    def user(self, username):
        with self.session() as session:
            return session.scalars(
                sa.select(models.User).where(models.User.username == username)
            ).one_or_none()

    def write_ini(self, mail_mode="dummy"):
        url = self.engine.url.render_as_string(hide_password=False).replace("%", "%%")
        Path(self.ini).write_text(
            "[app:main]\n"
            "use = egg:flicket\n"
            f"sqlalchemy.url = {url}\n"
            f"flicket.secret_file = {self.directory / 'secret'}\n"
            f"flicket.data_dir = {self.directory / 'data'}\n"
            f"flicket.bcrypt_rounds = {BCRYPT_TEST_ROUNDS}\n"
            f"flicket.mail.mode = {mail_mode}\n"
            # Nothing listens there: a message that really tried to leave would fail.
            "mail.host = 127.0.0.1\n"
            "mail.port = 9\n"
        )

    def configure(self, **values):
        with self.session() as session:
            config = session.scalars(sa.select(models.Config)).one()
            for key, value in values.items():
                setattr(config, key, value)
            session.commit()


@pytest.fixture
def bare_site(command_engine, tmp_path, monkeypatch):
    """The scratch database at the current schema, empty, with an ini file for it."""
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    if not _at_head(command_engine):
        # Another suite left something else there (test_setup empties it at will).
        empty_database(command_engine)
        upgrade_database(command_engine)
    clear_data(command_engine)
    site = Site(command_engine, str(tmp_path / "flicket-test.ini"), tmp_path)
    site.write_ini()

    real_bootstrap = paster.bootstrap

    def recording_bootstrap(*args, **kwargs):
        env = real_bootstrap(*args, **kwargs)
        site.registries.append(env["registry"])
        return env

    monkeypatch.setattr(paster, "bootstrap", recording_bootstrap)
    # main() would configure logging for the whole test process from the ini.
    monkeypatch.setattr(paster, "setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    yield site
    command_engine.dispose()


@pytest.fixture
def site(bare_site):
    """A site as flicket-setup leaves it, with mail sending on."""
    with bare_site.session() as session:
        seed(session, BASE_URL)
        session.commit()
    bare_site.configure(mail_suppress_send=False)
    return bare_site


def run(capsys, command, *argv):
    """Run a command's main() in-process: ``(exit code, stdout, stderr)``."""
    capsys.readouterr()
    code = COMMANDS[command](list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- arranging data ---------------------------------------------------------------------------

HASHES = {}


def password_hash(password=PASSWORD):
    if password not in HASHES:
        HASHES[password] = hash_password(password, BCRYPT_TEST_ROUNDS)
    return HASHES[password]


def add_user(session, username, *, email="", disabled=False, password=PASSWORD, **values):
    user = models.User(
        username=username,
        name=values.pop("name", username.capitalize() + " Example"),
        email=f"{username}@example.com" if email == "" else email,
        password=password_hash(password) if password else None,
        disabled=disabled,
        locale=values.pop("locale", "en"),
        total_posts=values.pop("total_posts", 0),
        total_assigned=values.pop("total_assigned", 0),
        **values,
    )
    session.add(user)
    session.flush()
    return user


def lookup(session, model, column, name):
    return session.scalars(sa.select(model).where(column == name)).one()


def add_ticket(session, title, creator, *, status="Open", assigned=None, priority="medium"):
    category = session.scalars(sa.select(models.Category).order_by(models.Category.id)).first()
    ticket = models.Ticket(
        title=title,
        content="Something is wrong.",
        user=creator,
        date_added=clock.utcnow(),
        last_updated=clock.utcnow(),
        status=lookup(session, models.Status, models.Status.status, status),
        ticket_priority=lookup(session, models.Priority, models.Priority.priority, priority),
        category=category,
        assigned=assigned,
        hours=Decimal("0"),
    )
    session.add(ticket)
    session.flush()
    return ticket


def add_reply(session, ticket, author, hours="0"):
    """A reply written straight into the table: the ticket's stored counters are not kept."""
    post = models.Post(
        ticket=ticket,
        user=author,
        content="A reply.",
        date_added=clock.utcnow(),
        hours=Decimal(hours),
    )
    session.add(post)
    session.flush()
    return post


# -- every command ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_exits_0_and_names_the_ini_argument(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        COMMANDS[command](["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {command} ")
    assert "INI" in out and "ini file" in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_ini_file_is_a_clear_error(command, capsys, tmp_path):
    missing = tmp_path / "nowhere.ini"
    code, out, err = run(capsys, command, str(missing))
    assert code == 2
    assert err == f"{command}: cannot read {missing}\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_without_an_ini_argument_argparse_refuses(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        COMMANDS[command]([])
    assert exit_info.value.code == 2
    assert "the following arguments are required: INI" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        "flicket-export-users",
        "flicket-update-user-posts",
        "flicket-email-outstanding-tickets",
        "flicket-populate",
    ],
)
def test_database_without_schema_is_refused(command, bare_site, capsys):
    empty_database(bare_site.engine)
    code, out, err = run(capsys, command, bare_site.ini)
    assert code == 2
    assert "run flicket-setup" in err
    assert sa.inspect(bare_site.engine).get_table_names() == []


# -- flicket-export-users ---------------------------------------------------------------------


def test_export_writes_flickets_users_file(site, capsys):
    with site.session() as session:
        admin = add_user(session, "admin")
        add_user(session, "nopass", password=None)
        add_user(session, "legacy", email=None, name=None)
        session.commit()
        admin_hash = admin.password.decode("ascii")

    code, out, err = run(capsys, "flicket-export-users", site.ini)

    assert code == 0, err
    assert out == (
        "Exported 3 users to users.json (1 account without a password, written as null).\n"
    )
    path = site.directory / "users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == [
        {
            "username": "admin",
            "name": "Admin Example",
            "email": "admin@example.com",
            "password": admin_hash,
        },
        {
            "username": "nopass",
            "name": "Nopass Example",
            "email": "nopass@example.com",
            "password": None,
        },
        {"username": "legacy", "name": None, "email": None, "password": admin_hash},
    ]
    assert admin_hash.startswith(f"$2b$0{BCRYPT_TEST_ROUNDS}$") and len(admin_hash) == 60


def test_export_never_overwrites_without_force(site, capsys):
    with site.session() as session:
        add_user(session, "alice")
        session.commit()
    target = site.directory / "out.json"
    target.write_text("keep me", encoding="utf-8")

    code, out, err = run(capsys, "flicket-export-users", site.ini, "-o", str(target))
    assert code == 2
    assert err == f"flicket-export-users: {target} already exists; use --force to overwrite it.\n"
    assert target.read_text(encoding="utf-8") == "keep me"

    code, out, err = run(capsys, "flicket-export-users", site.ini, "-o", str(target), "--force")
    assert code == 0, err
    assert [entry["username"] for entry in json.loads(target.read_text())] == ["alice"]
    assert not [name for name in os.listdir(site.directory) if name.startswith(".users-")]


def test_export_to_standard_output(site, capsys):
    with site.session() as session:
        add_user(session, "alice")
        session.commit()
    code, out, err = run(capsys, "flicket-export-users", site.ini, "-o", "-")
    assert code == 0
    assert [entry["email"] for entry in json.loads(out)] == ["alice@example.com"]
    assert err == "Exported 1 user.\n"


def test_export_into_a_missing_directory_is_a_clear_error(site, capsys):
    target = site.directory / "no" / "such" / "users.json"
    code, out, err = run(capsys, "flicket-export-users", site.ini, "-o", str(target))
    assert code == 2
    assert err.startswith("flicket-export-users: cannot write in ")
    assert not target.exists()


# -- flicket-import-users ---------------------------------------------------------------------


def entry(username, email=None, name=None, password=None):
    return {
        "username": username,
        "name": name or username.capitalize(),
        "email": email or f"{username}@example.org",
        "password": password or password_hash().decode("ascii"),
    }


def write_json(site, data, name="users.json"):
    path = site.directory / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_export_then_import_moves_accounts_with_their_passwords(site, capsys):
    with site.session() as session:
        add_user(session, "alice", name="Alice Liddell")
        add_user(session, "bobby", password="another long passphrase")
        add_user(session, "nopass", password=None)
        session.commit()
    assert run(capsys, "flicket-export-users", site.ini)[0] == 0
    clear_data(site.engine)
    with site.session() as session:
        seed(session, BASE_URL)
        session.commit()

    code, out, err = run(capsys, "flicket-import-users", site.ini)

    assert code == 0, err
    assert out.splitlines()[-1] == "Imported 3 users, skipped 0 (of 3 entries in users.json)."
    alice, bobby, nopass = site.user("alice"), site.user("bobby"), site.user("nopass")
    assert alice.name == "Alice Liddell" and alice.email == "alice@example.com"
    assert verify_password(PASSWORD, alice.password)
    assert verify_password("another long passphrase", bobby.password)
    assert nopass.password is None


def test_import_creates_new_accounts_and_skips_existing_ones(site, capsys):
    with site.session() as session:
        add_user(session, "alice")
        add_user(session, "bob", email="Bob@Example.com")
        session.commit()
    path = write_json(
        site,
        [
            entry("carol", name="Carol Danvers"),
            entry("ALICE", email="another@example.org"),  # username taken (any case)
            entry("robert", email="bob@example.COM"),  # email taken (any case)
            entry("dave", email=None) | {"email": None, "name": None},
        ],
        "people.json",
    )
    before = clock.utcnow() - timedelta(seconds=1)

    code, out, err = run(capsys, "flicket-import-users", site.ini, path)

    assert code == 0, err
    assert out.splitlines() == [
        "Skipped ALICE: the username already exists.",
        "Skipped robert: the email bob@example.COM belongs to 'bob'.",
        "Imported carol <carol@example.org>",
        "Imported dave",
        f"Imported 2 users, skipped 2 (of 4 entries in {path}).",
    ]
    carol = site.user("carol")
    assert carol.name == "Carol Danvers" and carol.email == "carol@example.org"
    assert carol.password == password_hash()
    assert verify_password(PASSWORD, carol.password)
    assert carol.locale == "en" and carol.disabled is False
    assert (carol.total_posts, carol.total_assigned) == (0, 0)
    assert carol.date_added >= before
    dave = site.user("dave")
    assert dave.email is None and dave.name is None
    assert site.count(models.User) == 4
    assert site.user("alice").email == "alice@example.com"  # untouched


def test_import_dry_run_changes_nothing(site, capsys):
    with site.session() as session:
        add_user(session, "alice")
        session.commit()
    path = write_json(site, [entry("carol"), entry("alice")])

    code, out, err = run(capsys, "flicket-import-users", site.ini, path, "--dry-run")

    assert code == 0, err
    assert out.splitlines() == [
        "Skipped alice: the username already exists.",
        "Would import carol <carol@example.org>",
        f"Would import 1 user, skipped 1 (of 2 entries in {path}). Dry run: nothing was written.",
    ]
    assert site.user("carol") is None
    assert site.count(models.User) == 1


VALID_HASH = "$2b$12$" + "a" * 53
ZELDA = entry("zelda")  # a valid first entry: even it must not be imported


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[{", "is not valid JSON (line 1, column 3"),
        ("", "is not valid JSON (line 1, column 1"),
        ('{"username": "carol"}', "must hold a JSON array of users, not a JSON dict"),
        ("42", "must hold a JSON array of users, not a JSON int"),
        ([ZELDA, ["carol"]], "entry 2: is a JSON list, not an object"),
        ([ZELDA, {"username": "carol", "name": "C"}], "entry 2 ('carol'): lacks the keys email"),
        ([ZELDA, entry("carol") | {"username": 7}], "entry 2: username must be a string, not 7"),
        ([ZELDA, entry("carol") | {"name": ["C"]}], 'name must be a string or null, not ["C"]'),
        ([ZELDA, entry("carol") | {"password": 12}], "password must be a string or null, not"),
        ([ZELDA, entry("abc")], "entry 2 ('abc'): username must be 4 to 24 characters long"),
        ([ZELDA, entry("x" * 25)], "username must be 4 to 24 characters long"),
        ([ZELDA, entry("carol@home")], "username must not contain '@'"),
        ([ZELDA, entry("carol\u0007")], "username contains control characters"),
        ([ZELDA, entry("carol", name="N" * 61)], "name is longer than 60 characters"),
        ([ZELDA, entry("carol", email="nobody")], "email 'nobody' is not a valid address"),
        ([ZELDA, entry("carol", email="c" * 50 + "@example.org")], "email is longer than 60"),
        ([ZELDA, entry("carol", password="secret")], "password is not a bcrypt hash"),
        ([ZELDA, entry("carol", password=VALID_HASH[:-1])], "password is not a bcrypt hash"),
        ([ZELDA, entry("carol", password="$2x$12$" + "a" * 53)], "password is not a bcrypt"),
        (
            [ZELDA, entry("carol"), entry("Carol", email="other@example.org")],
            "entry 3 ('Carol'): username 'Carol' is also in entry 2",
        ),
        (
            [ZELDA, entry("carol"), entry("dave", email="CAROL@example.org")],
            "entry 3 ('dave'): email 'CAROL@example.org' is also in entry 2",
        ),
    ],
)
def test_malformed_users_file_imports_nothing(site, capsys, data, message):
    path = write_json(site, data)

    code, out, err = run(capsys, "flicket-import-users", site.ini, path)

    assert code == 2
    assert err.startswith(f"flicket-import-users: {path}")
    assert "nothing was imported" in err
    assert message in err
    assert out == ""
    assert site.count(models.User) == 0


def test_import_lists_every_problem_of_the_file(site, capsys):
    path = write_json(site, [entry("abc"), entry("dave", email="bad"), {"username": "x"}])
    code, out, err = run(capsys, "flicket-import-users", site.ini, path)
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"flicket-import-users: {path}: 3 problems; nothing was imported."
    assert lines[1:] == [
        "  entry 1 ('abc'): username must be 4 to 24 characters long",
        "  entry 2 ('dave'): email 'bad' is not a valid address",
        "  entry 3 ('x'): lacks the keys name, email, password",
    ]


def test_import_of_a_missing_file_is_a_clear_error(site, capsys):
    code, out, err = run(capsys, "flicket-import-users", site.ini, "absent.json")
    assert code == 2
    assert err == "flicket-import-users: absent.json does not exist; nothing was imported.\n"


def test_import_of_a_file_that_is_not_utf8(site, capsys):
    path = site.directory / "latin1.json"
    path.write_bytes(
        json.dumps([entry("jose", name="José")], ensure_ascii=False).encode("latin-1")
    )
    code, out, err = run(capsys, "flicket-import-users", site.ini, str(path))
    assert code == 2
    assert err == f"flicket-import-users: {path} is not UTF-8 text; nothing was imported.\n"
    assert site.count(models.User) == 0


def test_import_accepts_a_utf8_bom_and_flickets_2a_hashes(site, capsys):
    legacy = "$2a$12$" + "R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"[:53]
    data = json.dumps([entry("josé", name="José Núñez", password=legacy)], ensure_ascii=False)
    path = site.directory / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + data.encode("utf-8"))
    code, out, err = run(capsys, "flicket-import-users", site.ini, str(path))
    assert code == 0, err
    user = site.user("josé")
    assert user.name == "José Núñez" and user.password == legacy.encode("ascii")


# -- flicket-update-user-posts / -assigned ----------------------------------------------------


@pytest.fixture
def counted(site):
    """alice created 2 tickets and wrote 1 reply; bob wrote 2 replies and is assigned 2
    tickets (one Closed); carol has nothing. The stored counters are all wrong."""
    with site.session() as session:
        alice = add_user(session, "alice", total_posts=7, total_assigned=1)
        bob = add_user(session, "bob", total_posts=0, total_assigned=0)
        add_user(session, "carol", total_posts=0, total_assigned=0)
        first = add_ticket(session, "Printer jammed", alice, assigned=bob, status="In Work")
        second = add_ticket(session, "Old laptop", alice, assigned=bob, status="Closed")
        add_reply(session, first, bob, hours="1.25")
        add_reply(session, first, alice)
        add_reply(session, second, bob)
        # NULL counters (the columns' defaults only apply when nothing is given).
        session.execute(
            sa.update(models.User).where(models.User.username == "bob").values(total_posts=None)
        )
        session.execute(
            sa.update(models.User)
            .where(models.User.username == "carol")
            .values(total_assigned=None)
        )
        session.commit()
    return site


def stored(site, column):
    with site.engine.connect() as conn:
        return dict(
            conn.execute(sa.select(models.User.username, getattr(models.User, column))).all()
        )


def ticket_counters(site):
    """{title: (reply_count, total_hours)} as stored."""
    with site.engine.connect() as conn:
        rows = conn.execute(
            sa.select(models.Ticket.title, models.Ticket.reply_count, models.Ticket.total_hours)
        ).all()
    return {
        title: (count, Decimal(str(hours)).quantize(Decimal("0.01")))
        for title, count, hours in rows
    }


def test_update_user_posts(counted, capsys):
    """It repairs the users' total_posts and the tickets' reply_count and total_hours."""
    with counted.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(models.Ticket.title, models.Ticket.id)).all())
    code, out, err = run(capsys, "flicket-update-user-posts", counted.ini)
    assert code == 0, err
    assert out.splitlines() == [
        "alice: 7 → 3",
        "bob: NULL → 2",
        "total_posts: updated 2 users of 3 users.",
        f"ticket {ids['Printer jammed']}: reply_count 0 → 2, total_hours 0.00 → 1.25",
        f"ticket {ids['Old laptop']}: reply_count 0 → 1, total_hours 0.00 → 0.00",
        "reply_count, total_hours: updated 2 tickets of 2 tickets.",
    ]
    assert stored(counted, "total_posts") == {"alice": 3, "bob": 2, "carol": 0}
    assert stored(counted, "total_assigned") == {"alice": 1, "bob": 0, "carol": None}
    assert ticket_counters(counted) == {
        "Printer jammed": (2, Decimal("1.25")),
        "Old laptop": (1, Decimal("0.00")),
    }

    code, out, err = run(capsys, "flicket-update-user-posts", counted.ini)
    assert (code, out) == (
        0,
        "total_posts: all 3 users already correct.\n"
        "reply_count, total_hours: all 2 tickets already correct.\n",
    )


def test_update_user_assigned(counted, capsys):
    code, out, err = run(capsys, "flicket-update-user-assigned", counted.ini)
    assert code == 0, err
    assert out.splitlines() == [
        "alice: 1 → 0",
        "bob: 0 → 2",
        "carol: NULL → 0",
        "total_assigned: updated 3 users of 3 users.",
    ]
    assert stored(counted, "total_assigned") == {"alice": 0, "bob": 2, "carol": 0}
    assert stored(counted, "total_posts") == {"alice": 7, "bob": None, "carol": 0}


@pytest.mark.parametrize(
    ("command", "column"),
    [
        ("flicket-update-user-posts", "total_posts"),
        ("flicket-update-user-assigned", "total_assigned"),
    ],
)
def test_counters_dry_run_writes_nothing(counted, capsys, command, column):
    before = stored(counted, column)
    code, out, err = run(capsys, command, counted.ini, "--dry-run")
    assert code == 0, err
    assert out.splitlines()[0] in ("alice: 7 → 3", "alice: 1 → 0")
    assert out.splitlines()[-1].endswith("would change (dry run: nothing was written).")
    assert stored(counted, column) == before


def test_counters_agree_with_the_ticket_service_rules(counted):
    """The grouped counts are exactly tickets created + replies, and tickets assigned."""
    with counted.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(models.User.username, models.User.id)).all())
        assert counters.true_counts(conn, "total_posts") == {ids["alice"]: 3, ids["bob"]: 2}
        assert counters.true_counts(conn, "total_assigned") == {ids["bob"]: 2}


# -- flicket-email-outstanding-tickets --------------------------------------------------------


@pytest.fixture
def desk(site):
    """alice raised an open ticket assigned to bob, a closed one and one awaiting
    information; carol (disabled) and dave (no email) have open tickets; erin only a
    closed one."""
    with site.session() as session:
        alice = add_user(session, "alice", name="Alice Liddell")
        bob = add_user(session, "bob", name="Bob Builder")
        carol = add_user(session, "carol", disabled=True)
        dave = add_user(session, "dave", email=None)
        erin = add_user(session, "erin")
        ids = {
            "printer": add_ticket(
                session, "Printer <jammed> & smoking", alice, assigned=bob, status="In Work"
            ).id,
            "closed": add_ticket(session, "Old laptop", alice, status="Closed").id,
            "waiting": add_ticket(
                session, "Need a badge", alice, status="Awaiting Information", priority="high"
            ).id,
            "carol": add_ticket(session, "Carol's ticket", carol).id,
            "dave": add_ticket(session, "Dave's ticket", dave).id,
            "erin": add_ticket(session, "Erin's closed ticket", erin, status="Closed").id,
        }
        session.commit()
    site.ids = ids
    return site


def test_outstanding_tickets_mail(desk, capsys):
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini)

    assert code == 0, err
    assert out.splitlines() == [
        "Sent to alice <alice@example.com>: 2 tickets",
        "Sent to bob <bob@example.com>: 1 ticket",
        "Sent 2 messages about 2 outstanding tickets; skipped 1 disabled user and 1 user "
        "without an email address.",
    ]
    outbox = desk.outbox()
    assert [message.recipients for message in outbox] == [
        ["alice@example.com"],
        ["bob@example.com"],
    ]
    assert {message.subject for message in outbox} == {"Outstanding Ticket Notifications"}

    to_alice = outbox[0]
    printer, waiting = desk.ids["printer"], desk.ids["waiting"]
    html = to_alice.html
    assert "Tickets Still Awaiting Resolution" in html
    assert f'<a href="{BASE_URL}/ticket_view/{printer}/">#{printer:05d}</a>' in html
    assert f'<a href="{BASE_URL}/ticket_view/{waiting}/">#{waiting:05d}</a>' in html
    assert "Printer &lt;jammed&gt; &amp; smoking" in html and "<jammed>" not in html
    assert "Bob Builder" in html and "In Work" in html and "medium" in html
    assert "Awaiting Information" in html and "high" in html and "Not assigned" in html
    assert "Old laptop" not in html and "Carol" not in html
    assert html.index(f"#{printer:05d}") < html.index(f"#{waiting:05d}")

    text = to_alice.body
    assert "Tickets Still Awaiting Resolution" in text
    assert f"#{printer:05d}  Printer <jammed> & smoking" in text
    assert f"{BASE_URL}/ticket_view/{waiting}/" in text

    to_bob = outbox[1]
    assert f"#{printer:05d}" in to_bob.html and "Need a badge" not in to_bob.html


def test_outstanding_dry_run_sends_nothing(desk, capsys):
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini, "--dry-run")
    assert code == 0, err
    assert out.splitlines()[:2] == [
        "Would send to alice <alice@example.com>: 2 tickets",
        "Would send to bob <bob@example.com>: 1 ticket",
    ]
    assert out.splitlines()[-1].startswith("Dry run: would send 2 messages about 2 ")
    assert desk.outbox() == []


def test_outstanding_limits_the_list_and_says_how_many_more(desk, capsys):
    code, out, err = run(
        capsys, "flicket-email-outstanding-tickets", desk.ini, "--max-tickets", "1"
    )
    assert code == 0, err
    to_alice = desk.outbox()[0]
    assert "Need a badge" not in to_alice.html
    assert f'… and 1 more: see <a href="{BASE_URL}/my_tickets/">My Tickets</a>' in to_alice.html
    assert "… and 1 more" in to_alice.body


def test_outstanding_respects_suppress_sending(desk, capsys):
    desk.configure(mail_suppress_send=True)
    desk.write_ini(mail_mode="smtp")
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini)
    assert code == 0
    assert out == (
        "Nothing was sent: “Suppress sending” is on in the site configuration "
        "(turn it off in the admin panel to send email).\n"
    )


def test_outstanding_records_mail_in_dummy_mode_even_when_suppressed(desk, capsys):
    """As flicket.mail does: the file and dummy modes record every message."""
    desk.configure(mail_suppress_send=True)
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini)
    assert code == 0, err
    assert [message.recipients for message in desk.outbox()] == [
        ["alice@example.com"],
        ["bob@example.com"],
    ]


def test_outstanding_needs_a_base_url(desk, capsys):
    desk.configure(base_url="")
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini)
    assert code == 2
    assert "The base URL is not set" in err
    assert desk.outbox() == []


def test_outstanding_with_nothing_outstanding(site, capsys):
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", site.ini)
    assert (code, out) == (0, "Sent 0 messages about 0 outstanding tickets.\n")
    assert site.outbox() == []


def test_outstanding_reports_a_failed_delivery_and_goes_on(desk, capsys, monkeypatch):
    real = outstanding.send_templated_mail

    def flaky(request, template, recipients, subject, **values):
        if recipients == ["alice@example.com"]:
            # As an SMTP delivery fails: when the transaction commits.
            request.tm.get().addBeforeCommitHook(_refuse)
        return real(request, template, recipients, subject, **values)

    monkeypatch.setattr(outstanding, "send_templated_mail", flaky)
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", desk.ini)
    assert code == 1
    assert "Failed to send to alice <alice@example.com>: 2 tickets: ConnectionRefusedError" in out
    assert "Sent to bob <bob@example.com>: 1 ticket" in out
    assert "Sent 1 message, 1 failed about 2 outstanding tickets" in out
    assert [message.recipients for message in desk.outbox()] == [["bob@example.com"]]


def _refuse():
    raise ConnectionRefusedError("mail server down")


def test_outstanding_bad_options(site, capsys):
    code, out, err = run(capsys, "flicket-email-outstanding-tickets", site.ini, "--delay", "-1")
    assert code == 2
    assert "--delay must be 0 or more" in err


# -- flicket-populate -------------------------------------------------------------------------


def assert_consistent(site, now):
    """The rules the application itself keeps, checked on the whole database."""
    t, p, s, a = models.Ticket, models.Post, models.Subscription, models.Action
    with site.engine.connect() as conn:
        for column in counters.COUNTERS:
            assert counters.differences(conn, column) == [], column
        # Creator, assignee and every replier are subscribed; never twice.
        pairs = conn.execute(sa.select(s.ticket_id, s.user_id)).all()
        assert len(pairs) == len(set(pairs))
        pairs = set(pairs)
        for ticket_id, started_id, assigned_id in conn.execute(
            sa.select(t.id, t.started_id, t.assigned_id)
        ):
            assert (ticket_id, started_id) in pairs
            assert assigned_id is None or (ticket_id, assigned_id) in pairs
        for ticket_id, user_id in conn.execute(sa.select(p.ticket_id, p.user_id)):
            assert (ticket_id, user_id) in pairs
        # A closed ticket has no assignee and a close action; in-work ones have an assignee.
        rows = conn.execute(
            sa.select(models.Status.status, t.assigned_id, t.id).join(models.Status)
        ).all()
        closes = set(conn.scalars(sa.select(a.ticket_id).where(a.action == "close")))
        for status, assigned_id, ticket_id in rows:
            if status == "Closed":
                assert assigned_id is None and ticket_id in closes
            elif status in ("In Work", "Awaiting Information"):
                assert assigned_id is not None
            else:
                assert assigned_id is None
        # Times: within the last two years, replies after the ticket, last_updated last.
        last_reply = (
            sa.select(sa.func.max(p.date_added)).where(p.ticket_id == t.id).scalar_subquery()
        )
        for added, updated, latest in conn.execute(
            sa.select(t.date_added, t.last_updated, last_reply)
        ):
            assert now - timedelta(days=731) <= added <= updated <= now + timedelta(seconds=2)
            assert latest is None or added <= latest <= updated
        # An action's post is a reply of the same ticket.
        bad = conn.scalar(
            sa.select(sa.func.count())
            .select_from(a)
            .join(p, a.post_id == p.id)
            .where(p.ticket_id != a.ticket_id)
        )
        assert bad == 0


def test_populate_a_small_site(site, capsys):
    now = clock.utcnow()
    code, out, err = run(
        capsys,
        "flicket-populate",
        site.ini,
        "--tickets",
        "30",
        "--replies-per-ticket",
        "3",
        "--users",
        "12",
        "--departments",
        "2",
        "--seed",
        "7",
        "--password",
        "demo users share this",
        "--batch-size",
        "8",
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Created 2 departments: Facilities, Finance."
    assert lines[1].startswith("Created 12 users, 30 tickets, ")
    assert lines[-1] == "The demo users' password: demo users share this"
    # The progress bar (stderr is not a terminal here: one line per step).
    assert "tickets [##############################] 100% 30/30" in err

    assert site.count(models.Ticket) == 30
    replies = site.count(models.Post)
    assert f"30 tickets, {replies:,} replies" in lines[1]
    assert 30 <= replies <= 30 * 7
    assert site.count(models.Subscription) >= 30
    assert site.count(models.Action) >= 1
    with site.session() as session:
        departments = {d.department: d for d in session.scalars(sa.select(models.Department))}
        assert {"Facilities", "Finance"} <= set(departments)
        assert [c.category for c in departments["Finance"].categories] == [
            "Budgets",
            "Expenses",
            "Invoices",
            "Other",
        ]
        demo = list(session.scalars(sa.select(models.User).where(models.User.id > 0)))
        assert len(demo) == 12
        assert all(user.email.endswith("@example.com") for user in demo)
        assert len({user.username.lower() for user in demo}) == 12
        assert all(4 <= len(user.username) <= 24 and "@" not in user.username for user in demo)
        assert verify_password("demo users share this", demo[0].password)
        assert len({user.password for user in demo}) == 1  # one hash, computed once
        assert any(user.is_super_user for user in demo)
        assert sum(user.total_posts for user in demo) == 30 + replies
        statuses = set(session.scalars(sa.select(models.Status.status).join(models.Ticket.status)))
        assert "Closed" in statuses
    assert_consistent(site, now)


def test_populate_twice_adds_more_and_the_site_keeps_working(site, capsys):
    now = clock.utcnow()
    args = ["--tickets", "12", "--users", "5", "--seed", "1", "--no-progress"]
    assert run(capsys, "flicket-populate", site.ini, *args)[0] == 0
    code, out, err = run(capsys, "flicket-populate", site.ini, *args)
    assert code == 0, err
    assert err == ""  # --no-progress
    assert "(generated; shown once)" in out
    assert site.count(models.Ticket) == 24
    assert site.count(models.User) == 10
    assert_consistent(site, now)
    # Ids continue after the demo rows (PostgreSQL's sequences were moved past them).
    with site.session() as session:
        last_ticket = session.scalar(sa.select(sa.func.max(models.Ticket.id)))
        last_post = session.scalar(sa.select(sa.func.max(models.Post.id)))
        creator = session.scalars(sa.select(models.User)).first()
        ticket = add_ticket(session, "Made by the application", creator)
        reply = add_reply(session, ticket, creator)
        session.commit()
        assert ticket.id > last_ticket and reply.id > last_post


def test_populate_with_the_existing_users(site, capsys):
    with site.session() as session:
        add_user(session, "alice")
        add_user(session, "bobby")
        session.commit()
    code, out, err = run(
        capsys, "flicket-populate", site.ini, "--users", "0", "--tickets", "10", "--no-progress"
    )
    assert code == 0, err
    assert "password" not in out
    assert site.count(models.User) == 2
    with site.engine.connect() as conn:
        creators = set(conn.scalars(sa.select(models.Ticket.started_id)))
        users_ids = set(conn.scalars(sa.select(models.User.id)))
    assert creators <= users_ids
    assert_consistent(site, clock.utcnow())


def test_populate_without_replies(site, capsys):
    code, out, err = run(
        capsys,
        "flicket-populate",
        site.ini,
        "--tickets",
        "5",
        "--replies-per-ticket",
        "0",
        "--users",
        "3",
        "--no-progress",
    )
    assert code == 0, err
    assert "5 tickets, 0 replies" in out
    assert site.count(models.Post) == 0
    assert_consistent(site, clock.utcnow())


def test_populate_refuses_a_database_without_seed_data(bare_site, capsys):
    code, out, err = run(capsys, "flicket-populate", bare_site.ini, "--tickets", "5")
    assert code == 2
    assert err == "flicket-populate: The status 'Open' does not exist: run flicket-setup first.\n"
    assert bare_site.count(models.User) == 0
    assert bare_site.count(models.Ticket) == 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--tickets", "-1", "must not be negative"),
        ("--replies-per-ticket", "-2", "must not be negative"),
        ("--replies-per-ticket", "nan", "--replies-per-ticket must be a number"),
        ("--batch-size", "0", "--batch-size and --days must be 1 or more"),
        ("--password", " ", "--password must not be empty"),
    ],
)
def test_populate_bad_options(site, capsys, option, value, message):
    code, out, err = run(capsys, "flicket-populate", site.ini, option, value)
    assert code == 2
    assert message in err
    assert site.count(models.User) == 0


def test_populate_option_that_is_not_a_number(capsys):
    with pytest.raises(SystemExit) as exit_info:
        populate.main(["some.ini", "--tickets", "many"])
    assert exit_info.value.code == 2
    assert "--tickets: invalid int value: 'many'" in capsys.readouterr().err


def test_outstanding_tickets_in_each_users_language_and_the_terminals(site, capsys, monkeypatch):
    from tests.functional.test_i18n import assert_french_mail, english_in

    with site.session() as session:
        alice = add_user(session, "alice", locale="fr")
        bob = add_user(session, "bob")
        add_ticket(session, "Imprimante en panne", alice)
        add_ticket(session, "Broken chair", bob)
        session.commit()
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")

    code, out, err = run(capsys, "flicket-email-outstanding-tickets", site.ini)

    assert code == 0, err
    assert len(out.splitlines()) == 3 and not english_in(out), out
    to_alice, to_bob = site.outbox()
    assert to_alice.recipients == ["alice@example.com"]
    assert_french_mail(to_alice)
    assert to_bob.subject == "Outstanding Ticket Notifications"
    assert '<html lang="en"' in to_bob.html
