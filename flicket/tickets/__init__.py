"""Tickets: the service layer, the pages and the home dashboard."""


def includeme(config):
    from flicket.tickets.services import get_ticket_service

    config.add_request_method(get_ticket_service, "tickets", reify=True)
    config.scan()
