"""Creating, upgrading and adopting the database, and the seed data.

Used by ``flicket-setup``. Every step is idempotent and reports what it changed, so a
second run changes nothing and says so.
"""

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import mysql

from flicket.accounts.models import ADMIN_GROUP_NAME, SUPER_USER_GROUP_NAME, Group, User
from flicket.accounts.users import listing
from flicket.admin.models import DEFAULT_ALLOWED_EXTENSIONS, Config
from flicket.departments.models import Category, Department
from flicket.i18n import _, english
from flicket.tickets.models import Priority, Status

#: Our first revision: exactly the Flicket 0.3.5 schema.
BASE_REVISION = "0001_flicket_0_3_5"
#: Flicket's own alembic revisions whose schema is the 0.3.5 schema (old chain and squashed).
FLICKET_FINAL_REVISIONS = {"7ec6c2a6a1c8", "0f00f3ee9518"}
#: Earlier Flicket revisions: the database must first be upgraded by Flicket itself.
FLICKET_OLDER_REVISIONS = {
    "fe0f77ef3f46",
    "36c91aa9b3b5",
    "70820003badd",
    "bcac6741b320",
    "9e59e0b9d1cf",
}

STATUSES = ("Open", "Closed", "In Work", "Awaiting Information")
PRIORITIES = ("low", "medium", "high")
DEPARTMENTS = {
    "Design": ("Dataset", "ECN", "ECR", "Other"),
    "Manufacturing": ("Process Planning", "Tooling", "Equipment", "Other"),
    "IT": ("Internet", "Intranet", "Other"),
    "Quality": ("Procedures", "Manuals", "Other"),
    "Human Resources": ("Holidays", "Sick Leave", "Other"),
    "Commercial": ("Approved Suppliers", "Other"),
}
CONFIG_DEFAULTS = {
    "posts_per_page": 50,
    "allowed_extensions": DEFAULT_ALLOWED_EXTENSIONS,
    "ticket_upload_folder": "flicket_uploads",
    "avatar_upload_folder": "flicket_avatars",
    "application_title": "Flicket",
    "mail_max_emails": 10,
    "mail_port": 465,
    "csv_dump_limit": 1000,
    "mail_use_tls": False,
    "mail_use_ssl": False,
    "mail_debug": False,
    "mail_suppress_send": False,
    "mail_ascii_attachments": False,
    "use_auth_domain": False,
    "change_category": False,
    "change_category_only_admin_or_super_user": False,
}


class SetupError(Exception):
    """Set-up cannot go on; ``message`` (to translate) says why and what to do;
    ``str(error)`` is the English text."""

    def __init__(self, message):
        super().__init__(english(message))
        self.message = message


def alembic_config(connection=None):
    """An alembic configuration that finds the installed migrations from anywhere."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("flicket") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
    """Type comparison for autogenerate and ``alembic check`` (used by the migrations' env.py).

    MariaDB/MySQL store a short ``LargeBinary`` (``flicket_users.password``, as Flicket
    declared it) as TINYBLOB, which is the same column; everything else is compared as usual.
    """
    if (
        context.dialect.name == "mysql"
        and isinstance(metadata_type, sa.LargeBinary)
        and (metadata_type.length or 0) <= 255
        and isinstance(inspected_type, mysql.TINYBLOB)
    ):
        return False
    return None


def include_object(obj, name, type_, reflected, compare_to):
    """What autogenerate and ``alembic check`` compare (used by the migrations' env.py):
    everything but the full-text search objects of migration 0005, which SQLAlchemy cannot
    model (SQLite FTS5 tables and their shadow tables, MariaDB FULLTEXT indexes, PostgreSQL
    GIN expression indexes); their absence from the models is deliberate."""
    if type_ == "table" and name and "_fts" in name:
        return False
    if type_ == "index" and name and name.startswith("ftx_"):
        return False
    return True


def upgrade_database(engine):
    """Create or upgrade the schema to the newest revision; adopt a Flicket 0.3.x database.

    Returns the list of things done, messages to translate (empty when the schema was
    already current).
    """
    done = []
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    ours = {revision.revision for revision in script.walk_revisions()}
    with engine.begin() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        current = MigrationContext.configure(connection).get_current_heads()
        if any(rev in FLICKET_OLDER_REVISIONS for rev in current):
            raise SetupError(
                _(
                    "This is a Flicket database at an old revision (${revisions}). Upgrade it "
                    "with Flicket 0.3.5 first (flask db upgrade), then run flicket-setup.",
                    mapping={"revisions": ", ".join(current)},
                )
            )
        flicket_revisions = [rev for rev in current if rev in FLICKET_FINAL_REVISIONS]
        if flicket_revisions:
            # Same tables, same columns: our base revision describes it exactly.
            connection.execute(
                sa.text(
                    "UPDATE alembic_version SET version_num = :ours WHERE version_num = :theirs"
                ),
                {"ours": BASE_REVISION, "theirs": flicket_revisions[0]},
            )
            done.append(
                _(
                    "Recognised a Flicket 0.3.x database (revision ${revision}); "
                    "it is now managed by these migrations.",
                    mapping={"revision": flicket_revisions[0]},
                )
            )
            current = (BASE_REVISION,)
        unknown = [rev for rev in current if rev not in ours]
        if unknown:
            raise SetupError(
                _(
                    "The database is at an unknown revision ${revisions}.",
                    mapping={"revisions": ", ".join(unknown)},
                )
            )
        if not current and "flicket_users" in tables:
            raise SetupError(
                _(
                    "The database has Flicket tables but no migration history; "
                    "upgrade it with Flicket 0.3.5 (flask db upgrade) first."
                )
            )
        head = script.get_current_head()
        if tuple(current) != (head,):
            command.upgrade(alembic_config(connection), "head")
            if current:
                done.append(
                    _(
                        "Database schema upgraded from ${before} to ${head}.",
                        mapping={"before": current[0], "head": head},
                    )
                )
            else:
                done.append(
                    _("Database schema upgraded from empty to ${head}.", mapping={"head": head})
                )
    return done


def seed(dbsession, base_url=None):
    """Create whatever seed data is missing; never touch existing rows. Returns the list of
    things done, messages to translate."""
    done = []
    config = dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).first()
    if config is None:
        config = Config(base_url=base_url or "", **CONFIG_DEFAULTS)
        if not config.mail_server:
            # No mail server yet: nothing can be delivered, so say so rather than fail.
            config.mail_debug = True
            config.mail_suppress_send = True
        dbsession.add(config)
        done.append(_("Created the site configuration."))
    elif base_url and not config.base_url:
        config.base_url = base_url
        done.append(_("Set the base URL to ${url}.", mapping={"url": base_url}))

    # Created in this order, so a fresh database has Flicket's ids (Open = 1, high = 3).
    for model, column, names, created in (
        (Status, Status.status, STATUSES, _("Created statuses: ${names}.")),
        (Priority, Priority.priority, PRIORITIES, _("Created priorities: ${names}.")),
        (
            Group,
            Group.group_name,
            (ADMIN_GROUP_NAME, SUPER_USER_GROUP_NAME),
            _("Created groups: ${names}."),
        ),
    ):
        existing = set(dbsession.scalars(sa.select(column)))
        missing = [name for name in names if name not in existing]
        for name in missing:
            dbsession.add(model(**{column.key: name}))
            dbsession.flush()
        if missing:
            done.append(created % {"names": ", ".join(missing)})

    # Departments are examples for a new site: only an empty table gets them, so an adopted
    # or customised site never sees a deleted department come back.
    if dbsession.scalar(sa.select(sa.func.count(Department.id))) == 0:
        for department_name, category_names in DEPARTMENTS.items():
            department = Department(department=department_name)
            dbsession.add(department)
            # "Other" in every department (Flicket created it only under the first one).
            for category_name in category_names:
                dbsession.add(Category(category=category_name, department=department))
        category_count = sum(len(names) for names in DEPARTMENTS.values())
        done.append(
            _(
                "Created ${departments} departments and ${categories} categories.",
                mapping={"departments": len(DEPARTMENTS), "categories": category_count},
            )
        )
    dbsession.flush()
    return done


def admin_group(dbsession):
    return dbsession.scalars(sa.select(Group).where(Group.group_name == ADMIN_GROUP_NAME)).first()


def find_admins(dbsession):
    return list(
        dbsession.scalars(
            sa.select(User).join(User.groups).where(Group.group_name == ADMIN_GROUP_NAME)
        )
    )


def create_admin(dbsession, accounts, username, email, password):
    """Create an administrator; refuses a weak password or a taken username/email."""
    username = (username or "").strip()
    email = (email or "").strip() or None
    if not 4 <= len(username) <= 24 or "@" in username:
        raise SetupError(_("The admin username must be 4 to 24 characters, without '@'."))
    if accounts.find_by_login(username) is not None:
        raise SetupError(
            _("A user named ${username} already exists.", mapping={"username": repr(username)})
        )
    if email and (len(email) > 60 or "@" not in email or accounts.find_by_email(email)):
        raise SetupError(
            _(
                "The email address ${email} is not valid or already in use.",
                mapping={"email": repr(email)},
            )
        )
    candidate = User(username=username, name=username, email=email)
    problems = accounts.password_problems(password, candidate)
    if problems:
        raise SetupError(
            _(
                "The admin password was refused: ${problems}",
                mapping={"problems": listing(problems, " ")},
            )
        )
    user = User(
        username=username,
        name=username,
        email=email,
        job_title="admin",
        locale="en",
        disabled=False,
        total_posts=0,
        total_assigned=0,
        password=accounts.hash_password(password),
    )
    user.groups.append(admin_group(dbsession))
    dbsession.add(user)
    dbsession.flush()
    return user
