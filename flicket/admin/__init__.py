"""The admin feature: the site configuration row (``request.flicket_config``, read once
per request so changes apply at once) and the admin panel under ``/flicket_admin/``."""

import sqlalchemy as sa

from flicket.admin.models import Config


def get_site_config(request):
    """The single ``flicket_config`` row (None before ``flicket-setup`` ran)."""
    return request.dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).first()


def includeme(config):
    config.add_request_method(get_site_config, "flicket_config", reify=True)
    # The panel's views; they use request.user_service (flicket.accounts.users).
    config.scan()
