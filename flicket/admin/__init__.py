"""The admin feature: the site configuration row (the admin pages come in a later step)."""

import sqlalchemy as sa

from flicket.admin.models import Config


def get_site_config(request):
    """The single ``flicket_config`` row (None before ``flicket-setup`` ran)."""
    return request.dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).first()


def includeme(config):
    config.add_request_method(get_site_config, "flicket_config", reify=True)
