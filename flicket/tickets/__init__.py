"""Tickets. For now the home page; the ticket features build on these models."""


def includeme(config):
    config.scan(".views")
