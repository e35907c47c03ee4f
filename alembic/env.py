"""Alembic environment: the database URL comes from the ini file's app settings (or
``FLICKET_DATABASE_URL``), the target metadata from ``flicket.models``."""

from alembic import context
from pyramid.paster import get_appsettings, setup_logging

from flicket import models
from flicket.db import get_engine
from flicket.install import compare_type, include_object
from flicket.settings import database_url

config = context.config
target_metadata = models.Base.metadata


def run_migrations(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=compare_type,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def main():
    # flicket-setup hands over its own connection; plain `alembic -c <ini>` reads the ini.
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    if config.config_file_name and not config.attributes.get("skip_logging"):
        setup_logging(config.config_file_name)
    settings = get_appsettings(config.config_file_name, name="main")
    engine = get_engine({"sqlalchemy.url": database_url(settings)})
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run them on a database.")
main()
