"""Accounts: login, logout, password reset, API tokens."""

from flicket.accounts.services import get_account_service


def includeme(config):
    config.add_request_method(get_account_service, "accounts", reify=True)
    config.scan(".views")
    config.scan(".api")
