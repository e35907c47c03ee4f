"""Mail: render a message from templates and hand it to ``request.mailer``.

Whatever the delivery, a message leaves only when the request's transaction commits; a
rolled-back (or doomed) request sends nothing. Every message has a plain-text and an HTML
part, both rendered from templates in ``templates/email/<name>/``.

``flicket.mail.mode`` chooses the delivery:

``queue`` (production)
    The message is written into a maildir queue (``flicket.mail.queue_dir``) by
    repoze.sendmail's ``QueuedMailDelivery`` (pyramid_mailer's ``send_to_queue``): written
    to ``tmp/`` during the request, moved to ``new/`` when the transaction commits, removed
    when it aborts. The request never talks to the SMTP server, so a mail server that is
    down, slow or refusing never slows down or loses a ticket. ``flicket-mail-queue``
    (``flicket/scripts/mailqueue.py``) sends the queue with the SMTP settings of the site
    configuration and keeps what could not be sent for the next run.
``smtp``
    Sent straight to the SMTP server of the site configuration after the commit (the
    request waits for the server, up to its timeout; a failure is logged and that message
    is lost). For small sites without a queue process.
``file``
    Written to files in ``flicket.mail.directory`` after the commit (development).
``dummy``
    Kept in memory (``delivery.outbox``) after the commit (tests).

The SMTP settings (server, port, TLS/SSL, login, password, sender) come from the site
configuration row at send time, so the admin's changes apply at once; the ini's ``mail.*``
settings are the defaults while the row names no server. "Suppress sending" in that row
is honoured at send time in the ``queue`` and ``smtp`` modes: nothing is queued or sent,
and the log says so. The ``file`` and ``dummy`` modes never send anything anywhere, so
they record every message whatever that setting says (a new site starts with it on).
"""

import logging
import os
import re

import transaction
from pyramid.renderers import render
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.mailer import DebugMailer, Mailer
from pyramid_mailer.message import Message

from flicket.i18n import localized, localizer_for, translate
from flicket.transactions import when_done

log = logging.getLogger(__name__)

#: The modes in which a message may leave the machine (and "Suppress sending" applies).
SENDING_MODES = ("smtp", "queue")
#: The maildir sub-folders repoze.sendmail uses.
MAILDIR_FOLDERS = ("tmp", "new", "cur")


class OutboxDelivery:
    """Keeps delivered messages in a list (``flicket.mail.mode = dummy``, for tests)."""

    def __init__(self):
        self.outbox = []

    def send_immediately(self, message, fail_silently=False):
        self.outbox.append(message)


class CRLFMailer:
    """A repoze.sendmail mailer whose messages go out with CRLF line ends.

    repoze.sendmail's ``SMTPMailer`` sends the message with Python's bare LF line ends
    (repoze/repoze.sendmail#46 and #49, still open); RFC 5321 wants CRLF, and strict
    servers refuse the message (aiosmtpd: "500 Line too long"; Postfix 3.9 and later
    disconnect clients that send bare LF, as an SMTP-smuggling defence).
    """

    def __init__(self, mailer):
        self.mailer = mailer

    def send(self, fromaddr, toaddrs, message):
        message.policy = message.policy.clone(linesep="\r\n")
        return self.mailer.send(fromaddr, toaddrs, message)


class SMTPDelivery:
    """Sends a pyramid_mailer ``Message`` now through the SMTP mailer of a pyramid_mailer
    ``Mailer`` (as its ``send_immediately``, with CRLF line ends)."""

    def __init__(self, mailer):
        self.mailer = mailer

    def send_immediately(self, message, fail_silently=False):
        message.sender = message.sender or self.mailer.default_sender
        try:
            return CRLFMailer(self.mailer.smtp_mailer).send(
                message.sender, message.send_to, message.to_message()
            )
        except OSError:
            if not fail_silently:
                raise


def ensure_maildir(path):
    """Create the maildir queue at ``path`` (and its parents) if it is missing; only the
    application's user may read the messages."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for folder in MAILDIR_FOLDERS:
        os.makedirs(os.path.join(path, folder), mode=0o700, exist_ok=True)
    return path


class FlicketMailer:
    """The application's mailer (the ``IMailer`` utility), bound to a request by
    ``request.mailer``.

    ``send`` is transactional (delivered after the commit, or queued with it);
    ``send_immediately`` sends now, outside any transaction (the admin's test e-mail).
    """

    def __init__(self, settings, mode, delivery=None, transaction_manager=None, request=None):
        self.settings = settings
        self.mode = mode
        self.delivery = delivery  # file and dummy modes: where messages go after the commit
        self.transaction_manager = transaction_manager
        self.request = request

    @property
    def queue_dir(self):
        return self.settings["flicket.mail.queue_dir"]

    def bind(self, transaction_manager=None, request=None, **kw):
        return FlicketMailer(
            self.settings,
            self.mode,
            self.delivery,
            transaction_manager or self.transaction_manager,
            request if request is not None else self.request,
        )

    # -- the site configuration, read at send time ----------------------------------------------

    def _site_config(self):
        request = self.request
        return request.flicket_config if request is not None else None

    def suppressed(self):
        """True when "Suppress sending" is on and this mode would send the message out."""
        if self.mode not in SENDING_MODES:
            return False
        config = self._site_config()
        return bool(config is not None and config.mail_suppress_send)

    def smtp_delivery(self):
        """Sends through the SMTP server of the site configuration (as it is now)."""
        from flicket.admin.services import mailer_from_config

        return SMTPDelivery(mailer_from_config(self.settings, self._site_config()))

    # -- sending ----------------------------------------------------------------------------

    def send(self, message):
        """Deliver ``message`` when the current transaction commits (queue it with it)."""
        if self.suppressed():
            log.info(
                "mail not sent (“Suppress sending” is on): %r to %s",
                message.subject,
                ", ".join(message.recipients),
            )
            return None
        manager = self.transaction_manager or transaction.manager
        if self.mode == "queue":
            queue = Mailer(queue_path=ensure_maildir(self.queue_dir), transaction_manager=manager)
            return queue.send_to_queue(message)
        # Resolve the SMTP settings now, inside the request: after the commit the database
        # session is closed.
        delivery = self.smtp_delivery() if self.mode == "smtp" else self.delivery
        when_done(manager, committed=lambda: self._deliver(delivery, message))
        return None

    def _deliver(self, delivery, message):
        try:
            delivery.send_immediately(message, fail_silently=False)
        except Exception as error:  # noqa: BLE001 - after the commit: log it, never raise
            log.error(
                "mail to %s could not be sent: %s: %s",
                ", ".join(message.recipients),
                type(error).__name__,
                error,
            )

    def send_immediately(self, message, fail_silently=False):
        """Send now, outside the transaction (failures raise unless ``fail_silently``)."""
        if self.mode in SENDING_MODES:
            return self.smtp_delivery().send_immediately(message, fail_silently=fail_silently)
        return self.delivery.send_immediately(message, fail_silently=fail_silently)


#: Kept for code written against the first version of this module.
AfterCommitMailer = FlicketMailer


def make_mailer(settings):
    """The mailer for ``flicket.mail.mode`` (see the module documentation)."""
    mode = settings["flicket.mail.mode"]
    if mode == "queue":
        ensure_maildir(settings["flicket.mail.queue_dir"])
        return FlicketMailer(settings, mode)
    if mode == "smtp":
        return FlicketMailer(settings, mode)
    if mode == "file":
        directory = settings["flicket.mail.directory"]
        os.makedirs(directory, exist_ok=True)
        return FlicketMailer(settings, mode, DebugMailer(directory))
    return FlicketMailer(settings, mode, OutboxDelivery())


def request_mailer(request):
    """``request.mailer``: the application's mailer bound to this request's transaction."""
    mailer = request.registry.getUtility(IMailer)
    tm = getattr(request, "tm", None)
    if isinstance(mailer, FlicketMailer):
        return mailer.bind(transaction_manager=tm, request=request)
    return mailer.bind(transaction_manager=tm) if tm is not None else mailer


#: Runs of ASCII white space and of everything ``str.splitlines`` breaks at; non-breaking
#: spaces (French typography) are kept.
_LINE_BREAKS_AND_SPACES = re.compile(r"[ \t\n\x0b\x0c\r\x1c-\x1f\x85\u2028\u2029]+")


def single_line(text):
    """Header values never carry a line break (no header injection via titles or names)."""
    return _LINE_BREAKS_AND_SPACES.sub(" ", str(text)).strip(" ")


def _sender(request):
    config = request.flicket_config
    return (config.mail_default_sender if config else None) or request.registry.settings.get(
        "mail.default_sender", "flicket@localhost"
    )


def _render(request, template, subject, values):
    """Subject, text and HTML bodies, in the language ``localized`` has set."""
    subject = translate(subject)
    values = {"subject": subject, **values}
    return (
        subject,
        render(f"email/{template}/body.txt.jinja2", values, request),
        render(f"email/{template}/body.html.jinja2", values, request),
    )


def send_templated_mail(request, template, recipients, subject, *, locale=None, **values):
    """Render ``templates/email/<template>/body.{txt,html}.jinja2`` and send one message to
    ``recipients`` (they all see each other's addresses), written in ``locale`` (the
    recipients' language; by default the request's)."""
    localizer = localizer_for(request.registry, locale) if locale else request.localizer
    with localized(localizer):
        subject, body, html = _render(request, template, subject, values)
    message = Message(
        subject=single_line(subject),
        sender=single_line(_sender(request)),
        recipients=[single_line(r) for r in recipients],
        body=body,
        html=html,
    )
    request.mailer.send(message)
    return message


def send_templated_mail_to_each(request, template, recipients, subject, **values):
    """Send one message per recipient (nobody sees the other recipients' addresses), each
    in its recipient's language. ``recipients`` are ``(address, locale)`` pairs; the
    templates are rendered once per language. Returns the messages."""
    sender = single_line(_sender(request)) if recipients else None
    rendered, messages = {}, []
    for address, locale in recipients:
        localizer = localizer_for(request.registry, locale)
        if localizer.locale_name not in rendered:
            with localized(localizer):
                rendered[localizer.locale_name] = _render(request, template, subject, values)
        text_subject, body, html = rendered[localizer.locale_name]
        message = Message(
            subject=single_line(text_subject),
            sender=sender,
            recipients=[single_line(address)],
            body=body,
            html=html,
        )
        request.mailer.send(message)
        messages.append(message)
    return messages


def includeme(config):
    mailer = make_mailer(config.get_settings())
    config.registry.registerUtility(mailer, IMailer)
    config.add_request_method(request_mailer, "mailer", reify=True)
