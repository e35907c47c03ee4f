"""The security suite (SECURITY-TESTS.md; mapping in the lead's catalogue).

``db_state`` is the "nothing changed" oracle shared by the access matrix and the
meta-tests: every row of every table of the application, except columns that a request is
allowed to touch without changing anything (an API token's ``last_used``)."""

import sqlalchemy as sa

from flicket import models

#: (table, column) pairs that bookkeeping may change on any authenticated request.
VOLATILE_COLUMNS = {("flicket_api_token", "last_used")}
#: The rate-limit store table (the tests use the memory store; counted attempts are not state).
SKIPPED_TABLES = {"flicket_rate_limit_hit"}


def db_state(dbsession):
    """{table name: sorted rows} for every table of the application's metadata."""
    dbsession.expire_all()
    state = {}
    for table in models.Base.metadata.sorted_tables:
        if table.name in SKIPPED_TABLES:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
        rows = dbsession.execute(sa.select(*columns)).all()
        state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state


def changed_tables(before, after):
    return sorted(name for name in before if before[name] != after.get(name))
