"""``flicket-setup`` and the migrations, on an empty database of each configured kind.

These tests need a database of their own (they create, adopt and drop schemas), so they use
a *scratch* database beside the test database: a temporary file for SQLite, and
``<test database>_scratch`` on the same server for MariaDB/MySQL and PostgreSQL. It is
created once per database kind, emptied before every test and dropped at the end.
"""

import argparse
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import bcrypt
import pytest
import sqlalchemy as sa
import webtest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pyramid.paster import get_app
from sqlalchemy.orm import Session

import flicket.scripts.setup as setup_script
from flicket import models
from flicket.accounts.services import AccountService
from flicket.db import get_engine
from flicket.install import (
    BASE_REVISION,
    DEPARTMENTS,
    SetupError,
    alembic_config,
    compare_type,
    include_object,
    seed,
    upgrade_database,
)
from flicket.settings import load as load_settings
from flicket.tickets import search
from tests.conftest import basic_auth, empty_database, login
from tests.databases import create_database, drop_database, server_admin_engine

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
LEGACY_TABLES = (
    "flicket_config",
    "flicket_department",
    "flicket_group",
    "flicket_priorities",
    "flicket_status",
    "flicket_users",
    "flicket_category",
    "flicket_groups",
    "flicket_topic",
    "flicket_post",
    "flicket_ticket_subscription",
    "flicket_history",
    "flicket_ticket_action",
    "flicket_uploads",
)


# -- the scratch database -------------------------------------------------------------------


@pytest.fixture(scope="session")
def scratch_url(db_url, tmp_path_factory):
    """The URL of an empty database of the test database's kind, ours to create and drop."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        yield url.set(database=str(tmp_path_factory.mktemp("scratch") / "scratch.sqlite"))
        return
    scratch = url.set(database=f"{url.database}_scratch")
    admin = server_admin_engine(url)
    create_database(admin, scratch)
    yield scratch
    drop_database(admin, scratch)
    admin.dispose()


@pytest.fixture(scope="session")
def _scratch_engine(scratch_url):
    engine = get_engine({"sqlalchemy.url": scratch_url.render_as_string(hide_password=False)})
    yield engine
    engine.dispose()


@pytest.fixture
def scratch_engine(_scratch_engine, monkeypatch):
    """The scratch database, emptied, as an engine made like the application makes it."""
    # Keep the environment from overriding the ini files these tests write.
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    empty_database(_scratch_engine)
    yield _scratch_engine
    _scratch_engine.dispose()


@pytest.fixture
def engines_made_by_setup(monkeypatch):
    """Dispose of the engines that flicket-setup's application creates, after the test."""
    registries = []
    real_bootstrap = setup_script.bootstrap

    def recording_bootstrap(*args, **kwargs):
        env = real_bootstrap(*args, **kwargs)
        registries.append(env["registry"])
        return env

    monkeypatch.setattr(setup_script, "bootstrap", recording_bootstrap)
    # main() would configure logging for the whole test process from the ini.
    monkeypatch.setattr(setup_script, "setup_logging", lambda *args, **kwargs: None)
    yield
    for registry in registries:
        registry["dbengine"].dispose()


@pytest.fixture
def ini(scratch_engine, tmp_path, engines_made_by_setup):
    """A small ini file whose database is the scratch database."""
    url = scratch_engine.url.render_as_string(hide_password=False).replace("%", "%%")
    path = tmp_path / "flicket-test.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:flicket\n"
        f"sqlalchemy.url = {url}\n"
        f"flicket.secret_file = {tmp_path / 'secret'}\n"
        f"flicket.data_dir = {tmp_path / 'data'}\n"
        "flicket.bcrypt_rounds = 4\n"
        "flicket.mail.mode = dummy\n"
    )
    return str(path)


# -- helpers --------------------------------------------------------------------------------


def setup_args(ini, **options):
    values = {
        "config_uri": ini,
        "admin_username": None,
        "admin_email": None,
        "admin_password": None,
        "base_url": None,
        "no_input": True,
    }
    values.update(options)
    return argparse.Namespace(**values)


def run_setup(ini, **options):
    """Run flicket-setup's logic; returns what it printed, one string per line."""
    lines = []
    setup_script.run(setup_args(ini, **options), out=lines.append)
    return lines


def dump(engine, columns=None):
    """Every row of every table (or of the tables and columns in ``columns``), in order."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    result = {}
    with engine.connect() as conn:
        for name, table in sorted(metadata.tables.items()):
            if columns is not None and name not in columns:
                continue
            cols = [table.c[c] for c in columns[name]] if columns is not None else list(table.c)
            order = list(table.primary_key.columns) or cols
            result[name] = [tuple(row) for row in conn.execute(sa.select(*cols).order_by(*order))]
    return result


def table_columns(engine):
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return {name: [c.name for c in table.c] for name, table in metadata.tables.items()}


def current_revisions(engine):
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_heads()


@pytest.fixture
def accounts(ini, scratch_engine):
    """The account service the application uses, on the scratch database, with the ini's
    settings; its session is closed after the test, failed or not."""
    settings = load_settings(
        {
            "sqlalchemy.url": str(scratch_engine.url),
            "flicket.secret_file": str(Path(ini).parent / "secret"),
            "flicket.bcrypt_rounds": "4",
            "flicket.mail.mode": "dummy",
        },
        environ={},
    )
    session = Session(scratch_engine)
    yield AccountService(session, settings)
    session.close()


def scalar_list(engine, statement):
    with engine.connect() as conn:
        return list(conn.scalars(statement))


GENERATED_RE = re.compile(r"generated password .*: (\S+)$")


# -- a fresh installation -------------------------------------------------------------------


def test_first_run_creates_schema_seed_and_admin(ini, scratch_engine, accounts):
    lines = run_setup(
        ini,
        admin_username="deskadmin",
        admin_email="desk@example.com",
        admin_password="marmalade kettle horizon",
        base_url="https://desk.example.com",
    )

    assert any("schema upgraded from empty" in line for line in lines), lines
    assert "Created the administrator 'deskadmin'." in lines
    assert not any("generated password" in line for line in lines)
    assert current_revisions(scratch_engine) == (HEAD,)
    assert set(LEGACY_TABLES) <= set(sa.inspect(scratch_engine).get_table_names())

    user = accounts.authenticate("deskadmin", "marmalade kettle horizon")
    assert user is not None and user.is_admin and user.email == "desk@example.com"
    assert user.auth_generation == 0 and not user.disabled
    assert accounts.authenticate("desk@example.com", "marmalade kettle horizon") is user
    assert accounts.authenticate("deskadmin", "wrong password entirely") is None

    with Session(scratch_engine) as session:
        config = session.scalars(sa.select(models.Config)).one()
        assert config.base_url == "https://desk.example.com"


def test_seed_data(ini, scratch_engine):
    run_setup(ini)
    with Session(scratch_engine) as session:
        statuses = session.execute(sa.select(models.Status.id, models.Status.status)).all()
        assert sorted(statuses) == [
            (1, "Open"),
            (2, "Closed"),
            (3, "In Work"),
            (4, "Awaiting Information"),
        ]
        priorities = session.execute(sa.select(models.Priority.id, models.Priority.priority)).all()
        assert sorted(priorities) == [(1, "low"), (2, "medium"), (3, "high")]

        departments = session.scalars(sa.select(models.Department)).all()
        assert len(departments) == 6
        assert {d.department for d in departments} == set(DEPARTMENTS)
        for department in departments:
            names = [c.category for c in department.categories]
            assert "Other" in names, department.department
            assert sorted(names) == sorted(DEPARTMENTS[department.department])

        groups = set(session.scalars(sa.select(models.Group.group_name)))
        assert groups == {"flicket_admin", "super_user"}

        config = session.scalars(sa.select(models.Config)).one()
        assert config.posts_per_page == 50
        assert config.csv_dump_limit == 1000
        assert config.application_title == "Flicket"
        assert config.mail_server is None
        assert config.mail_suppress_send is True
        assert config.base_url == ""

        admins = session.scalars(sa.select(models.User)).all()
        assert [(u.username, u.group_names) for u in admins] == [("admin", {"flicket_admin"})]


def test_second_run_changes_nothing(ini, scratch_engine, capsys):
    run_setup(ini, admin_password="marmalade kettle horizon")
    before = dump(scratch_engine)
    assert sum(len(rows) for rows in before.values()) > 20

    assert setup_script.main([ini, "--no-input"]) == 0
    out = capsys.readouterr().out
    assert "Nothing to do" in out
    assert dump(scratch_engine) == before

    # Admin options on a set-up database are reported as unused, and still change nothing.
    lines = run_setup(ini, admin_username="other", admin_password="another long passphrase")
    assert lines[0] == "An administrator already exists; --admin-* options were not used."
    assert lines[1].startswith("Nothing to do")
    assert dump(scratch_engine) == before


def test_deleted_department_is_not_seeded_again(ini, scratch_engine):
    run_setup(ini, admin_password="marmalade kettle horizon")
    with scratch_engine.begin() as conn:
        commercial = conn.scalar(
            sa.select(models.Department.id).where(models.Department.department == "Commercial")
        )
        conn.execute(sa.delete(models.Category).where(models.Category.department_id == commercial))
        conn.execute(sa.delete(models.Department).where(models.Department.id == commercial))
    before = dump(scratch_engine)

    lines = run_setup(ini)

    assert lines == [
        "Nothing to do: the database is up to date and the seed data and administrator exist."
    ]
    assert dump(scratch_engine) == before


def test_weak_admin_password_is_refused(ini, scratch_engine, capsys):
    code = setup_script.main([ini, "--no-input", "--admin-password", "password123456"])
    assert code != 0
    err = capsys.readouterr().err
    assert "flicket-setup: The admin password was refused" in err
    assert "too common" in err
    assert scalar_list(scratch_engine, sa.select(models.User.id)) == []

    # Too short is refused as clearly, and a good password then works.
    assert setup_script.main([ini, "--no-input", "--admin-password", "short"]) != 0
    assert "at least 12 characters" in capsys.readouterr().err
    assert scalar_list(scratch_engine, sa.select(models.User.id)) == []
    assert setup_script.main([ini, "--no-input", "--admin-password", "quiet meadow lantern"]) == 0
    assert scalar_list(scratch_engine, sa.select(models.User.username)) == ["admin"]


def test_no_input_generates_and_prints_a_password(ini, scratch_engine, accounts, capsys):
    assert setup_script.main([ini, "--no-input"]) == 0
    out = capsys.readouterr().out
    passwords = [m.group(1) for m in map(GENERATED_RE.search, out.splitlines()) if m]
    assert len(passwords) == 1, out
    password = passwords[0]
    assert len(password) >= 16

    user = accounts.authenticate("admin", password)
    assert user is not None and user.is_admin
    # No account answers to a well-known default password.
    for login_name, guess in (
        ("admin", "admin"),
        ("admin", "password"),
        ("admin", "flicket"),
        ("admin", "changeme"),
        ("admin", ""),
        ("admin@example.com", "admin"),
    ):
        assert accounts.authenticate(login_name, guess) is None, (login_name, guess)
    assert scalar_list(scratch_engine, sa.select(models.User.username)) == ["admin"]


def test_missing_secret_is_refused(tmp_path, monkeypatch, engines_made_by_setup, capsys):
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "nosecret.ini"
    path.write_text(
        "[app:main]\nuse = egg:flicket\n"
        f"sqlalchemy.url = sqlite:///{tmp_path / 'x.sqlite'}\n"
        f"flicket.data_dir = {tmp_path / 'data'}\n"
    )
    assert setup_script.main([str(path), "--no-input"]) == 2
    assert "FLICKET_SECRET" in capsys.readouterr().err
    assert not (tmp_path / "x.sqlite").exists()


# -- adopting a Flicket 0.3.5 database ------------------------------------------------------

ADMIN_PASSWORD = "old admin passphrase 1"
JANE_PASSWORD = "Jane's password from 2019"


def _hash(password):
    # Exactly how Flicket stored passwords: bcrypt bytes in a LargeBinary column.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))


def _when(day, hour=9, minute=0, second=0):
    return datetime(2024, 3, day, hour, minute, second)


LEGACY_ROWS = (
    (
        "INSERT INTO flicket_config (id, mail_server, mail_port, mail_use_tls, mail_use_ssl,"
        " mail_debug, mail_username, mail_password, mail_default_sender, mail_max_emails,"
        " mail_suppress_send, mail_ascii_attachments, posts_per_page, allowed_extensions,"
        " ticket_upload_folder, avatar_upload_folder, application_title, base_url,"
        " auth_domain, use_auth_domain, csv_dump_limit, change_category,"
        " change_category_only_admin_or_super_user) VALUES (:id, :mail_server, :mail_port,"
        " :mail_use_tls, :mail_use_ssl, :mail_debug, :mail_username, :mail_password,"
        " :mail_default_sender, :mail_max_emails, :mail_suppress_send,"
        " :mail_ascii_attachments, :posts_per_page, :allowed_extensions,"
        " :ticket_upload_folder, :avatar_upload_folder, :application_title, :base_url,"
        " :auth_domain, :use_auth_domain, :csv_dump_limit, :change_category,"
        " :change_category_only_admin_or_super_user)",
        [
            {
                "id": 1,
                "mail_server": "smtp.example.com",
                "mail_port": 587,
                "mail_use_tls": True,
                "mail_use_ssl": False,
                "mail_debug": False,
                "mail_username": "helpdesk",
                "mail_password": "smtp secret",
                "mail_default_sender": "helpdesk@example.com",
                "mail_max_emails": 10,
                "mail_suppress_send": False,
                "mail_ascii_attachments": False,
                "posts_per_page": 25,
                "allowed_extensions": "txt, log, pdf, png",
                "ticket_upload_folder": "/srv/flicket/uploads",
                "avatar_upload_folder": "/srv/flicket/avatars",
                "application_title": "Acme Helpdesk",
                "base_url": "https://helpdesk.example.com",
                "auth_domain": None,
                "use_auth_domain": False,
                "csv_dump_limit": 500,
                "change_category": True,
                "change_category_only_admin_or_super_user": True,
            }
        ],
    ),
    (
        "INSERT INTO flicket_status (id, status) VALUES (:id, :status)",
        [
            {"id": 1, "status": "Open"},
            {"id": 2, "status": "Closed"},
            {"id": 3, "status": "In Work"},
            {"id": 4, "status": "Awaiting Information"},
        ],
    ),
    (
        "INSERT INTO flicket_priorities (id, priority) VALUES (:id, :priority)",
        [
            {"id": 1, "priority": "low"},
            {"id": 2, "priority": "medium"},
            {"id": 3, "priority": "high"},
        ],
    ),
    (
        "INSERT INTO flicket_group (id, group_name) VALUES (:id, :group_name)",
        [{"id": 1, "group_name": "flicket_admin"}, {"id": 2, "group_name": "super_user"}],
    ),
    (
        "INSERT INTO flicket_department (id, department) VALUES (:id, :department)",
        [
            {"id": 1, "department": "Design"},
            {"id": 2, "department": "IT"},
            {"id": 3, "department": "Facilities"},
        ],
    ),
    (
        "INSERT INTO flicket_category (id, category, department_id)"
        " VALUES (:id, :category, :department_id)",
        [
            {"id": 1, "category": "Dataset", "department_id": 1},
            # Flicket created "Other" once only, in the first department.
            {"id": 2, "category": "Other", "department_id": 1},
            {"id": 3, "category": "Internet", "department_id": 2},
            {"id": 4, "category": "Printers", "department_id": 2},
            {"id": 5, "category": "Cleaning", "department_id": 3},
        ],
    ),
    (
        "INSERT INTO flicket_users (id, username, name, password, email, date_added,"
        " date_modified, job_title, avatar, total_posts, total_assigned, token,"
        " token_expiration, locale, disabled) VALUES (:id, :username, :name, :password,"
        " :email, :date_added, :date_modified, :job_title, :avatar, :total_posts,"
        " :total_assigned, :token, :token_expiration, :locale, :disabled)",
        [
            {
                "id": 1,
                "username": "admin",
                "name": "Site Administrator",
                "password": _hash(ADMIN_PASSWORD),
                "email": "admin@example.com",
                "date_added": _when(1),
                "date_modified": None,
                "job_title": "admin",
                "avatar": None,
                "total_posts": 0,
                "total_assigned": 0,
                "token": None,
                "token_expiration": None,
                "locale": "en",
                "disabled": False,
            },
            {
                "id": 2,
                "username": "jane",
                "name": "Jane Müller",
                "password": _hash(JANE_PASSWORD),
                "email": "jane@example.com",
                "date_added": _when(2, 10, 30, 15),
                "date_modified": _when(5, 16, 45),
                "job_title": "IT support ✓",
                "avatar": "3f2a9c.png",
                "total_posts": 1,
                "total_assigned": 1,
                "token": "0123456789abcdef0123456789abcdef",
                "token_expiration": _when(30, 18),
                "locale": "de",
                "disabled": False,
            },
            {
                "id": 3,
                "username": "bob",
                "name": "Bob Example",
                "password": _hash("bob's old password"),
                "email": "bob@example.com",
                "date_added": _when(3),
                "date_modified": None,
                "job_title": "Engineer",
                "avatar": None,
                "total_posts": 2,
                "total_assigned": 0,
                "token": None,
                "token_expiration": None,
                "locale": "en",
                "disabled": False,
            },
            {
                "id": 4,
                "username": "leaver",
                "name": "Former Colleague",
                "password": _hash("leaver's old password"),
                "email": None,
                "date_added": _when(4),
                "date_modified": _when(20),
                "job_title": None,
                "avatar": None,
                "total_posts": 0,
                "total_assigned": 0,
                "token": None,
                "token_expiration": None,
                "locale": "en",
                "disabled": True,
            },
        ],
    ),
    (
        "INSERT INTO flicket_groups (user_id, group_id) VALUES (:user_id, :group_id)",
        [{"user_id": 1, "group_id": 1}, {"user_id": 2, "group_id": 2}],
    ),
    (
        "INSERT INTO flicket_topic (id, title, content, started_id, date_added, date_modified,"
        " modified_id, status_id, category_id, assigned_id, ticket_priority_id, hours,"
        " last_updated) VALUES (:id, :title, :content, :started_id, :date_added,"
        " :date_modified, :modified_id, :status_id, :category_id, :assigned_id,"
        " :ticket_priority_id, :hours, :last_updated)",
        [
            {
                "id": 1,
                "title": "Printer on floor 2 is jammed",
                "content": "The **printer** by the café eats paper.\n\n<b>again</b> 🙁",
                "started_id": 3,
                "date_added": _when(6, 8, 15),
                "date_modified": _when(6, 8, 20),
                "modified_id": 3,
                "status_id": 3,
                "category_id": 4,
                "assigned_id": 2,
                "ticket_priority_id": 2,
                "hours": Decimal("1.50"),
                "last_updated": _when(7, 11),
            },
            {
                "id": 2,
                "title": "New starter needs a laptop",
                "content": "For Monday, please.",
                "started_id": 1,
                "date_added": _when(8),
                "date_modified": None,
                "modified_id": None,
                "status_id": 2,
                "category_id": 3,
                "assigned_id": None,
                "ticket_priority_id": 3,
                "hours": Decimal("0.00"),
                "last_updated": _when(9),
            },
        ],
    ),
    (
        "INSERT INTO flicket_post (id, ticket_id, content, user_id, date_added, date_modified,"
        " modified_id, hours) VALUES (:id, :ticket_id, :content, :user_id, :date_added,"
        " :date_modified, :modified_id, :hours)",
        [
            {
                "id": 1,
                "ticket_id": 1,
                "content": "Cleared the jam; the roller is worn.",
                "user_id": 2,
                "date_added": _when(7, 11),
                "date_modified": None,
                "modified_id": None,
                "hours": Decimal("0.25"),
            },
            {
                "id": 2,
                "ticket_id": 1,
                "content": "Thanks!",
                "user_id": 3,
                "date_added": _when(7, 12),
                "date_modified": None,
                "modified_id": None,
                "hours": Decimal("0.00"),
            },
        ],
    ),
    (
        "INSERT INTO flicket_ticket_subscription (id, ticket_id, user_id)"
        " VALUES (:id, :ticket_id, :user_id)",
        [{"id": 1, "ticket_id": 1, "user_id": 3}, {"id": 2, "ticket_id": 1, "user_id": 2}],
    ),
    (
        "INSERT INTO flicket_history (id, post_id, topic_id, date_modified, original_content,"
        " user_id) VALUES (:id, :post_id, :topic_id, :date_modified, :original_content,"
        " :user_id)",
        [
            {
                "id": 1,
                "post_id": None,
                "topic_id": 1,
                "date_modified": _when(6, 8, 20),
                "original_content": "Printer jammed",
                "user_id": 3,
            }
        ],
    ),
    (
        "INSERT INTO flicket_ticket_action (id, ticket_id, post_id, action, data, user_id,"
        " recipient_id, date) VALUES (:id, :ticket_id, :post_id, :action, :data, :user_id,"
        " :recipient_id, :date)",
        [
            {
                "id": 1,
                "ticket_id": 1,
                "post_id": None,
                "action": "assign",
                "data": {"assigned": "jane", "priority": "medium"},
                "user_id": 1,
                "recipient_id": 2,
                "date": _when(6, 9),
            },
            {
                "id": 2,
                "ticket_id": 1,
                "post_id": 1,
                "action": "status",
                "data": {"status": "In Work"},
                "user_id": 2,
                "recipient_id": None,
                "date": _when(7, 11),
            },
            {
                "id": 3,
                "ticket_id": 2,
                "post_id": None,
                "action": "close",
                "data": None,
                "user_id": 1,
                "recipient_id": None,
                "date": _when(9),
            },
        ],
    ),
    (
        "INSERT INTO flicket_uploads (id, posts_id, topic_id, filename, original_filename)"
        " VALUES (:id, :posts_id, :topic_id, :filename, :original_filename)",
        [
            {
                "id": 1,
                "posts_id": None,
                "topic_id": 1,
                "filename": "a1b2c3.jpg",
                "original_filename": "jam.jpg",
            },
            {
                "id": 2,
                "posts_id": 1,
                "topic_id": None,
                "filename": "d4e5f6.pdf",
                "original_filename": "roller invoice.pdf",
            },
        ],
    ),
)
PARAMETER_TYPES = {
    "password": sa.LargeBinary(),
    "data": sa.JSON(none_as_null=True),
    "date_added": sa.DateTime(),
    "date_modified": sa.DateTime(),
    "token_expiration": sa.DateTime(),
    "last_updated": sa.DateTime(),
    "date": sa.DateTime(),
    "hours": sa.Numeric(10, 2),
}


def make_flicket_database(engine, revision="0f00f3ee9518", rows=True):
    """A database as Flicket 0.3.5 left it: its schema, its alembic revision, its rows."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASE_REVISION)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version"))
        conn.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision}
        )
        if not rows:
            return
        for sql, values in LEGACY_ROWS:
            statement = sa.text(sql).bindparams(
                *(
                    sa.bindparam(name, type_=type_)
                    for name, type_ in PARAMETER_TYPES.items()
                    if re.search(rf":{name}\b", sql)
                )
            )
            conn.execute(statement, values)
        if engine.dialect.name == "postgresql":
            # Rows that Flicket inserted advanced the id sequences as well.
            for sql, values in LEGACY_ROWS:
                if "id" in values[0]:
                    table = sql.split()[2]
                    conn.execute(
                        sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                        {"t": table, "n": max(v["id"] for v in values)},
                    )


@pytest.mark.parametrize("flicket_revision", ["0f00f3ee9518", "7ec6c2a6a1c8"])
def test_flicket_0_3_5_database_is_adopted_without_losing_a_row(
    ini, scratch_engine, accounts, flicket_revision, capsys
):
    make_flicket_database(scratch_engine, flicket_revision)
    legacy_columns = table_columns(scratch_engine)
    assert set(legacy_columns) == {*LEGACY_TABLES, "alembic_version"}
    del legacy_columns["alembic_version"]
    before = dump(scratch_engine, legacy_columns)
    assert sum(len(rows) for rows in before.values()) == sum(len(v) for _, v in LEGACY_ROWS)

    assert setup_script.main([ini, "--no-input"]) == 0
    out = capsys.readouterr().out
    assert f"Recognised a Flicket 0.3.x database (revision {flicket_revision})" in out
    assert f"upgraded from {BASE_REVISION} to {HEAD}" in out
    # Flicket's administrator is kept; no other one is made, no password is generated.
    assert "Created the administrator" not in out and "generated password" not in out

    # Every original row of every original column is still there, unchanged.
    after = dump(scratch_engine, legacy_columns)
    for table in LEGACY_TABLES:
        assert after[table][: len(before[table])] == before[table], table
    for table in (
        "flicket_config",
        "flicket_status",
        "flicket_priorities",
        "flicket_group",
        "flicket_users",
        "flicket_groups",
        "flicket_topic",
        "flicket_post",
    ):
        assert after[table] == before[table], table
    assert current_revisions(scratch_engine) == (HEAD,)
    assert scalar_list(
        scratch_engine, sa.select(models.User.auth_generation).order_by(models.User.id)
    ) == [0, 0, 0, 0]
    with Session(scratch_engine) as session:
        action = session.get(models.Action, 1)
        assert action.data == {"assigned": "jane", "priority": "medium"}
        assert session.get(models.Action, 3).data is None
        assert session.get(models.Ticket, 1).status.status == "In Work"
        assert session.get(models.User, 1).is_admin
        assert session.get(models.User, 2).is_super_user

    # Flicket's users log in with their old passwords.
    assert accounts.authenticate("admin", ADMIN_PASSWORD).id == 1
    assert accounts.authenticate("jane@example.com", JANE_PASSWORD).id == 2
    assert accounts.authenticate("jane", "not her password at all") is None
    assert accounts.authenticate("leaver", "leaver's old password") is None  # disabled
    accounts.db.close()

    # The adopted schema is exactly what the models describe.
    assert_schema_matches_models(scratch_engine)

    # A second run changes nothing.
    snapshot = dump(scratch_engine)
    assert setup_script.main([ini, "--no-input"]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert dump(scratch_engine) == snapshot


def test_adopted_database_serves_a_real_login(ini, scratch_engine):
    make_flicket_database(scratch_engine)
    run_setup(ini)
    app = get_app(ini, "main")
    try:
        testapp = webtest.TestApp(
            app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": "192.0.2.20"}
        )
        response = login(testapp, "jane", JANE_PASSWORD)
        assert response.location.endswith("/")
        login(webtest.TestApp(app), "bob", "wrong password for bob", status=200)
    finally:
        app.registry["dbengine"].dispose()


def test_upgrade_database_and_seed_adopt_directly(scratch_engine):
    """The library functions, without the script, as the test harness uses them."""
    make_flicket_database(scratch_engine)
    legacy_columns = table_columns(scratch_engine)
    del legacy_columns["alembic_version"]
    before = dump(scratch_engine, legacy_columns)

    done = upgrade_database(scratch_engine)
    assert len(done) == 2
    assert upgrade_database(scratch_engine) == []
    with Session(scratch_engine) as session:
        seed(session)
        session.commit()
    after = dump(scratch_engine, legacy_columns)
    for table in LEGACY_TABLES:
        assert after[table][: len(before[table])] == before[table], table


@pytest.mark.parametrize("old_revision", ["9e59e0b9d1cf", "fe0f77ef3f46"])
def test_older_flicket_revision_is_refused_and_left_alone(
    ini, scratch_engine, old_revision, capsys
):
    make_flicket_database(scratch_engine, old_revision)
    before = dump(scratch_engine)

    with pytest.raises(SetupError, match=r"old revision.*Flicket 0\.3\.5 first"):
        upgrade_database(scratch_engine)
    assert dump(scratch_engine) == before

    assert setup_script.main([ini, "--no-input"]) == 2
    err = capsys.readouterr().err
    assert old_revision in err and "Upgrade it with Flicket 0.3.5 first" in err
    assert dump(scratch_engine) == before


def test_unknown_revision_is_refused(ini, scratch_engine, capsys):
    make_flicket_database(scratch_engine, "deadbeef0123", rows=False)
    before = dump(scratch_engine)
    with pytest.raises(SetupError, match="unknown revision deadbeef0123"):
        upgrade_database(scratch_engine)
    assert dump(scratch_engine) == before
    assert setup_script.main([ini, "--no-input"]) == 2
    assert "unknown revision deadbeef0123" in capsys.readouterr().err
    assert dump(scratch_engine) == before


def test_flicket_tables_without_history_are_refused(scratch_engine):
    make_flicket_database(scratch_engine, rows=False)
    with scratch_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    before = dump(scratch_engine)
    with pytest.raises(SetupError, match="no migration history"):
        upgrade_database(scratch_engine)
    assert dump(scratch_engine) == before


# -- the migrations -------------------------------------------------------------------------


def assert_schema_matches_models(engine):
    """``alembic check``: autogenerate finds nothing to do, compared as env.py compares."""
    with engine.connect() as conn:
        migration = MigrationContext.configure(
            conn, opts={"compare_type": compare_type, "include_object": include_object}
        )
        assert compare_metadata(migration, models.Base.metadata) == []
    with engine.connect() as conn:
        command.check(alembic_config(conn))  # raises AutogenerateDiffsDetected otherwise


def test_migrations_match_the_models(scratch_engine):
    assert upgrade_database(scratch_engine)
    assert current_revisions(scratch_engine) == (HEAD,)
    assert_schema_matches_models(scratch_engine)


def migration_chain():
    """Every revision of the script directory, oldest first (one line of history)."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "the migrations must form one line"
    return list(reversed(list(script.walk_revisions())))


def has_downgrade(revision):
    return callable(getattr(revision.module, "downgrade", None))


def step(engine, action, target):
    with engine.begin() as conn:
        action(alembic_config(conn), target)
    assert current_revisions(engine) == ((target,) if target else ())


def assert_rows_kept(engine, legacy_columns, before, where):
    """Every row the database had at the start is still there, unchanged, in order."""
    after = dump(engine, legacy_columns)
    for table, rows in before.items():
        assert after[table][: len(rows)] == rows, f"{table} changed at {where}"


def use_the_site(ini):
    """What people do, so that the tables added since Flicket 0.3.5 hold rows too: a
    failed login (rate-limit hits), a login, an API token, a reply through the API."""
    app = get_app(ini, "main")
    try:
        browser = webtest.TestApp(
            app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": "192.0.2.30"}
        )
        login(browser, "jane", "not her password at all", status=200)
        login(browser, "jane", JANE_PASSWORD)
        api = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        token = api.post("/flicket-api/tokens", headers=basic_auth("jane", JANE_PASSWORD))
        api.post_json(
            "/flicket-api/ticket/1/replies",
            {"content": "Written between the migrations' walks."},
            headers={"Authorization": f"Bearer {token.json['token']}"},
            status=201,
        )
    finally:
        app.registry["dbengine"].dispose()


def test_every_migration_runs_up_and_down_with_rows_in_the_tables(ini, scratch_engine, capsys):
    """Generic over alembic/versions/ (the revisions added later are walked too):

    1. a Flicket 0.3.5 database with its rows, at our first revision;
    2. up one revision at a time; after each, down again where the revision has a
       downgrade() and up again; every original row kept at every step;
    3. at the head, the site is used, so every table holds rows;
    4. down one revision at a time as far as downgrades go, rows kept at every step;
    5. ``flicket-setup`` brings it back to the head from there: the schema is the models'
       and Flicket's users still log in.
    """
    chain = migration_chain()
    assert chain[0].revision == BASE_REVISION and chain[-1].revision == HEAD
    with open(ini, "a", encoding="utf-8") as f:
        f.write("flicket.ratelimit.store = database\n")  # as production.ini: hits are rows
    make_flicket_database(scratch_engine)
    with scratch_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": BASE_REVISION})
    legacy_columns = table_columns(scratch_engine)
    del legacy_columns["alembic_version"]
    before = dump(scratch_engine, legacy_columns)

    walked_down = []
    for revision in chain[1:]:
        step(scratch_engine, command.upgrade, revision.revision)
        assert_rows_kept(scratch_engine, legacy_columns, before, f"up to {revision.revision}")
        if has_downgrade(revision):
            step(scratch_engine, command.downgrade, revision.down_revision)
            assert_rows_kept(scratch_engine, legacy_columns, before, f"down {revision.revision}")
            step(scratch_engine, command.upgrade, revision.revision)
            walked_down.append(revision.revision)
    assert walked_down  # the walk really went down somewhere

    assert run_setup(ini)  # seed data for the site (the rows are kept: checked below)
    use_the_site(ini)
    empty = [name for name, rows in dump(scratch_engine).items() if not rows]
    assert empty == [], f"no rows in {empty}: make use_the_site() write to them"
    before = dump(scratch_engine, legacy_columns)

    lowest = HEAD
    for revision in reversed(chain[1:]):
        if not has_downgrade(revision):
            break
        step(scratch_engine, command.downgrade, revision.down_revision)
        lowest = revision.down_revision
        assert_rows_kept(scratch_engine, legacy_columns, before, f"down to {lowest}")
    capsys.readouterr()

    assert setup_script.main([ini, "--no-input"]) == 0
    assert f"upgraded from {lowest} to {HEAD}" in capsys.readouterr().out
    assert current_revisions(scratch_engine) == (HEAD,)
    assert_rows_kept(scratch_engine, legacy_columns, before, "the head again")
    assert_schema_matches_models(scratch_engine)
    use_the_site(ini)
    print(
        f"\nmigrations: {len(chain)} revisions; up, down and up again with rows: "
        f"{', '.join(walked_down)}; down with rows from the head to {lowest}, "
        "then flicket-setup to the head"
    )


def test_adopted_database_downgrades_to_flicket_schema_keeping_rows(scratch_engine):
    """Going back to our base revision gives Flicket 0.3.5's schema with every row."""
    make_flicket_database(scratch_engine)
    legacy_columns = table_columns(scratch_engine)
    del legacy_columns["alembic_version"]
    before = dump(scratch_engine, legacy_columns)
    upgrade_database(scratch_engine)
    with scratch_engine.begin() as conn:
        command.downgrade(alembic_config(conn), BASE_REVISION)
    assert current_revisions(scratch_engine) == (BASE_REVISION,)
    columns = table_columns(scratch_engine)
    del columns["alembic_version"]
    assert columns == legacy_columns
    assert dump(scratch_engine, legacy_columns) == before


def test_upgrade_counts_and_indexes_the_tickets_already_there(scratch_engine):
    """Migrations 0004 to 0006 on a database with tickets: the stored reply counts and
    hours are computed, the search index holds the existing titles, texts and replies, and
    the dashboard's tally counts the tickets."""
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003_ticket_indexes")
    with scratch_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO flicket_users (id, username) VALUES (1, 'old')"))
        conn.execute(
            sa.text(
                "INSERT INTO flicket_topic (id, title, content, started_id, assigned_id, hours) "
                "VALUES (1, 'Zebra crossing', 'Repaint it.', 1, 1, 1.50), "
                "(2, 'Quiet ticket', 'Nothing here.', 1, NULL, 0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO flicket_post (id, ticket_id, content, user_id, hours) VALUES "
                "(1, 1, 'Paint ordered.', 1, 0.25), (2, 1, 'Yellow paint arrived.', 1, 1)"
            )
        )
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with scratch_engine.connect() as conn:
        stored = conn.execute(
            sa.select(
                models.Ticket.id, models.Ticket.reply_count, models.Ticket.total_hours
            ).order_by(models.Ticket.id)
        ).all()
        assert [(i, n, Decimal(str(h)).quantize(Decimal("0.01"))) for i, n, h in stored] == [
            (1, 2, Decimal("2.75")),
            (2, 0, Decimal("0.00")),
        ]
        assert search.index_available(conn)

        def found(text):
            condition = search.text_matches(text, conn)
            return list(conn.scalars(sa.select(models.Ticket.id).where(condition)))

        assert found("zebra") == [1]
        assert found("yellow") == [1]
        assert found("nothing") == [2]
        assert found("paint repaint") == [1]

        # No category, status or priority: counted under 0; one of the two assigned.
        tally = conn.execute(
            sa.select(
                models.TicketTally.category_id,
                models.TicketTally.status_id,
                models.TicketTally.ticket_priority_id,
                models.TicketTally.tickets,
                models.TicketTally.assigned,
            )
        ).all()
        assert [tuple(row) for row in tally] == [(0, 0, 0, 2, 1)]
