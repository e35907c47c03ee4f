"""The JSON API under /flicket-api/ (routes in ``flicket.routes``)."""

from pyramid.renderers import JSON


def includeme(config):
    # Flicket's API answers with sorted keys.
    config.add_renderer("json", JSON(sort_keys=True))
    config.scan()
    from flicket.api.views import add_item_views

    add_item_views(config)
