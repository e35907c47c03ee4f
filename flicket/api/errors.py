"""API errors: one exception carrying the HTTP status and a message, rendered by
``flicket.errors`` as ``{"error": <reason phrase>, "message": <detail>}``."""

from pyramid.httpexceptions import status_map

from flicket.i18n import english


class APIError(Exception):
    def __init__(self, status, message, headers=None):
        # The API speaks English: a service's TranslationString (TicketError,
        # DepartmentError) is shown with its placeholders filled, never translated.
        message = english(message)
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    @property
    def title(self):
        return status_map[self.status].title if self.status in status_map else "Error"
