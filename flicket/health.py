"""``GET /healthz``: is this process able to serve? For the reverse proxy and monitoring.

No login, no session, no cookie, one SQL query. 200 when every check passes, else 503;
the JSON body says which check failed and nothing more (no versions, paths or errors: the
log has those):

- ``database``: the database answers (reading the schema revision);
- ``schema``: ``current``, ``ahead`` (the database was upgraded by newer code: still served,
  as our migrations only add) or ``behind`` (this code needs a migration that has not run:
  ``flicket-setup`` was not run after an upgrade) or ``missing`` (never set up);
- ``storage``: the data folder (uploads, mail queue) can be written.
"""

import logging
import os
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from flicket.install import alembic_config

log = logging.getLogger(__name__)


def _writable(path):
    """``path`` is a folder we may write in, or can be created where we may write."""
    path = Path(path)
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def schema_state(revision, known, head):
    if revision is None:
        return "missing"
    if revision == head:
        return "current"
    return "behind" if revision in known else "ahead"


# No renderer: the layout values a renderer adds would read the site configuration.
@view_config(route_name="healthz", request_method="GET", permission=NO_PERMISSION_REQUIRED)
def healthz(request):
    registry = request.registry
    checks = {"database": "ok", "schema": "unknown", "storage": "ok"}
    try:
        revision = request.dbsession.execute(
            sa.text("SELECT version_num FROM alembic_version")
        ).scalar()
    except sa.exc.SQLAlchemyError as error:
        # A missing table is a database that answered: never set up. Anything else: down.
        if isinstance(error, sa.exc.ProgrammingError | sa.exc.OperationalError) and (
            "alembic_version" in str(error.orig)
        ):
            checks["schema"] = "missing"
        else:
            log.warning("health check: the database did not answer: %s", type(error).__name__)
            checks["database"] = "fail"
    else:
        checks["schema"] = schema_state(
            revision, registry["schema_revisions"], registry["schema_head"]
        )
    if not all(_writable(folder) for folder in registry["health_folders"]):
        log.warning("health check: the data folder cannot be written")
        checks["storage"] = "fail"
    healthy = (
        checks["database"] == "ok"
        and checks["schema"] in ("current", "ahead")
        and checks["storage"] == "ok"
    )
    response = request.response
    response.status_int = 200 if healthy else 503
    response.content_type = "application/json"
    response.json_body = {"status": "ok" if healthy else "fail", "checks": checks}
    return response


def includeme(config):
    script = ScriptDirectory.from_config(alembic_config())
    config.registry["schema_revisions"] = frozenset(r.revision for r in script.walk_revisions())
    config.registry["schema_head"] = script.get_current_head()
    settings = config.get_settings()
    folders = {settings["flicket.data_dir"]}
    if settings.get("flicket.upload_dir"):
        folders.add(settings["flicket.upload_dir"])
    if settings["flicket.mail.mode"] == "queue":
        folders.add(settings["flicket.mail.queue_dir"])
    config.registry["health_folders"] = sorted(folders)
    config.scan(__name__)
