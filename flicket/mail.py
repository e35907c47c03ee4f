"""Mail: render a message from templates and send it through ``request.mailer``.

Whatever the delivery (SMTP, files for development, memory for tests), a message leaves
only when the request's transaction commits; a rolled-back request sends nothing.
Every message has a plain-text and an HTML part, both rendered from templates in
``templates/email/<name>/``.
"""

import os

import transaction
from pyramid.renderers import render
from pyramid_mailer import get_mailer
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.mailer import DebugMailer, Mailer
from pyramid_mailer.message import Message


class OutboxDelivery:
    """Keeps delivered messages in a list (``flicket.mail.mode = dummy``, for tests)."""

    def __init__(self):
        self.outbox = []

    def send_immediately(self, message, fail_silently=False):
        self.outbox.append(message)


class AfterCommitMailer:
    """Hands each message to ``delivery`` after the transaction commits, never before."""

    def __init__(self, delivery, transaction_manager=None):
        self.delivery = delivery
        self.transaction_manager = transaction_manager

    def bind(self, transaction_manager=None, **kw):
        return AfterCommitMailer(self.delivery, transaction_manager or self.transaction_manager)

    def send(self, message):
        manager = self.transaction_manager or transaction.manager
        manager.get().addAfterCommitHook(self._deliver, args=(message,))

    def _deliver(self, committed, message):
        if committed:
            self.delivery.send_immediately(message)

    def send_immediately(self, message, fail_silently=False):
        self.delivery.send_immediately(message, fail_silently=fail_silently)


def make_mailer(settings):
    mode = settings["flicket.mail.mode"]
    if mode == "smtp":
        # pyramid_mailer's SMTP mailer joins the transaction itself.
        return Mailer.from_settings(settings, "mail.")
    if mode == "file":
        directory = settings["flicket.mail.directory"]
        os.makedirs(directory, exist_ok=True)
        return AfterCommitMailer(DebugMailer(directory))
    return AfterCommitMailer(OutboxDelivery())


def single_line(text):
    """Header values never carry a line break (no header injection via titles or names)."""
    return " ".join(str(text).split())


def send_templated_mail(request, template, recipients, subject, **values):
    """Render ``templates/email/<template>/body.{txt,html}.jinja2`` and send it."""
    values = {"subject": subject, **values}
    config = request.flicket_config
    sender = (config.mail_default_sender if config else None) or request.registry.settings.get(
        "mail.default_sender", "flicket@localhost"
    )
    message = Message(
        subject=single_line(subject),
        sender=single_line(sender),
        recipients=[single_line(r) for r in recipients],
        body=render(f"email/{template}/body.txt.jinja2", values, request),
        html=render(f"email/{template}/body.html.jinja2", values, request),
    )
    request.mailer.send(message)
    return message


def includeme(config):
    mailer = make_mailer(config.get_settings())
    config.registry.registerUtility(mailer, IMailer)
    config.add_request_method(get_mailer, "mailer", reify=True)
