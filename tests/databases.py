"""Databases the tests make for themselves on the MariaDB/PostgreSQL servers (scratch,
concurrency, outage): created empty, dropped afterwards, never one the tests did not make."""

import sqlalchemy as sa


def server_admin_engine(url):
    """An AUTOCOMMIT engine on the server of ``url`` that may CREATE/DROP DATABASE."""
    url = url.set(database="postgres" if url.get_backend_name() == "postgresql" else "")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def drop_database(admin, url):
    name = admin.dialect.identifier_preparer.quote(url.database)
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            # Connections left by an interrupted run must not keep it alive.
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")


def create_database(admin, url):
    """A new, empty UTF-8 database named as ``url`` says (dropped first if it was left)."""
    drop_database(admin, url)
    name = admin.dialect.identifier_preparer.quote(url.database)
    with admin.connect() as conn:
        if url.get_backend_name() == "mysql":
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        else:
            conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'UTF8'")
