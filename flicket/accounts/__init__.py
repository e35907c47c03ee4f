"""Accounts: login, logout, password reset, API tokens."""


def includeme(config):
    from flicket.accounts.services import get_account_service

    config.add_request_method(get_account_service, "accounts", reify=True)
    config.scan(".views")
    config.scan(".api")
