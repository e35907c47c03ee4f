"""``flicket-mail-queue <ini> [--once] [--interval SECONDS]``: send the queued mail.

With ``flicket.mail.mode = queue`` the application never talks to the SMTP server: every
message is written into a maildir queue (``flicket.mail.queue_dir``) when the request's
transaction commits. This command sends what is queued, with the SMTP settings of the site
configuration (admin panel, read again before every pass; the ini's ``mail.*`` settings
while the configuration names no server):

- a message the server accepts is removed from the queue, at once (sent once);
- while the server is down, slow (see the SMTP timeout), refusing the login or answering
  with a temporary 4xx error, the messages stay queued and the next pass tries again;
- a message refused for good (a 5xx answer to its sender, recipient or content) is moved
  to the ``failed/`` folder beside the queue and logged; move it back into ``new/`` to
  try again;
- while "Suppress sending" is on, nothing is sent and the messages stay queued.

Only one drain works on a queue at a time (a lock file in the queue folder); a second one
started meanwhile skips its pass. Exit codes with ``--once``: 0 the queue was sent (or is
held by "Suppress sending", or another drain is busy), 1 messages are left in the queue or
were moved to ``failed/``, 2 bad arguments or configuration. Without ``--once`` it runs
until stopped (SIGTERM or Ctrl-C) and exits 0.
"""

import contextlib
import errno
import fcntl
import logging
import os
import signal
import smtplib
import sys
import threading
import time
from dataclasses import dataclass, field
from email import header
from email.parser import Parser

import sqlalchemy as sa
import transaction

from flicket.i18n import _, english
from flicket.mail import CRLFMailer
from flicket.scripts.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    bootstrapped,
    make_parser,
    plural,
    pluralize,
    require_schema,
    run_main,
    say,
)

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0
FAILED_FOLDER = "failed"
LOCK_FILE = ".flicket-mail-queue.lock"

#: What an SMTP failure means for the queue.
PERMANENT = "permanent"  # this message will never be accepted: move it to failed/
TRANSIENT = "transient"  # this message was refused for now: keep it, go on with the next
SERVER = "server"  # the server takes no mail now: keep this one and the rest, stop the pass


@dataclass
class PassResult:
    delivered: int = 0
    failed: int = 0
    kept: int = 0
    held: bool = False  # "Suppress sending" is on
    busy: bool = False  # another drain holds the lock
    server_error: str | None = None  # in English
    server_problem: object = None  # the same, as a message to translate
    remaining: int = 0
    failures: list = field(default_factory=list)


# -- the queue ------------------------------------------------------------------------------------


def queued_files(queue_dir):
    """The queued messages (maildir ``new/`` and ``cur/``), oldest first."""
    found = []
    for folder in ("new", "cur"):
        path = os.path.join(queue_dir, folder)
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith("."):
                continue  # maildir readers skip dot files (other tools' work files)
            full = os.path.join(path, name)
            try:
                found.append((os.stat(full).st_mtime, name, full))
            except FileNotFoundError:
                continue
    found.sort()
    return [full for _mtime, _name, full in found]


def _decoded(value):
    if value is None:
        return ""
    text, charset = header.decode_header(value)[0]
    if isinstance(text, bytes):
        text = text.decode(charset or "ascii", "replace")
    return str(text)


def read_message(path):
    """``(from address, [to addresses], message)`` of a queued file, without the envelope
    headers repoze.sendmail adds (``X-Actually-From``, ``X-Actually-To``)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        message = Parser().parse(f)
    fromaddr = _decoded(message["X-Actually-From"])
    toaddrs = [a.strip() for a in _decoded(message["X-Actually-To"]).split(",") if a.strip()]
    del message["X-Actually-From"]
    del message["X-Actually-To"]
    return fromaddr, toaddrs, message


def classify(error):
    """PERMANENT, TRANSIENT or SERVER for an exception raised while sending one message."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        if codes and all(500 <= code <= 599 for code in codes):
            return PERMANENT
        return SERVER if 421 in codes else TRANSIENT
    if isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code == 530:
        return SERVER  # "authentication required": the login settings, not this message
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        if 500 <= error.smtp_code <= 599:
            return PERMANENT
        return SERVER if error.smtp_code == 421 else TRANSIENT
    # Connection refused or timed out, TLS, login refused, greeting or EHLO refused: the
    # server, or our settings for it, not this message.
    return SERVER


def _smtp_reason(error):
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address}: {code} {_text(text)}"
            for address, (code, text) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}"


def _text(value):
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


def _move_to_failed(queue_dir, path):
    failed = os.path.join(queue_dir, FAILED_FOLDER)
    os.makedirs(failed, mode=0o700, exist_ok=True)
    target = os.path.join(failed, os.path.basename(path))
    os.replace(path, target)
    return target


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


@contextlib.contextmanager
def queue_lock(queue_dir):
    """Yields True when this process may work on the queue, False when another one does."""
    fd = os.open(os.path.join(queue_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield False
                return
            raise
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def drain_queue(queue_dir, smtp_mailer, *, suppressed=False, describe=None, stop=None):
    """One pass over the queue with ``smtp_mailer`` (a repoze.sendmail ``SMTPMailer``).

    ``describe(error)`` words a server failure for the log and the operator (a message to
    translate, or text); ``stop`` (an Event) ends the pass between two messages.
    """
    smtp_mailer = CRLFMailer(smtp_mailer)
    result = PassResult()
    if not os.path.isdir(os.path.join(queue_dir, "new")):
        return result
    with queue_lock(queue_dir) as mine:
        if not mine:
            result.busy = True
            result.remaining = len(queued_files(queue_dir))
            return result
        files = queued_files(queue_dir)
        if suppressed and files:
            result.held = True
            result.remaining = len(files)
            log.info(
                "“Suppress sending” is on: %s left in the queue",
                plural(len(files), "message"),
            )
            return result
        for position, path in enumerate(files):
            if stop is not None and stop.is_set():
                break
            try:
                fromaddr, toaddrs, message = read_message(path)
            except FileNotFoundError:
                continue  # sent or removed meanwhile
            if not toaddrs:
                _move_to_failed(queue_dir, path)
                result.failed += 1
                result.failures.append((os.path.basename(path), "no recipient"))
                log.error("queued mail %s has no recipient: moved to failed/", path)
                continue
            to = ", ".join(toaddrs)
            try:
                smtp_mailer.send(fromaddr, toaddrs, message)
            except Exception as error:  # noqa: BLE001 - every failure is classified and logged
                kind = classify(error)
                if kind == PERMANENT:
                    target = _move_to_failed(queue_dir, path)
                    result.failed += 1
                    result.failures.append((os.path.basename(path), _smtp_reason(error)))
                    log.error(
                        "mail %r to %s refused for good (%s): moved to %s",
                        message["Subject"],
                        to,
                        _smtp_reason(error),
                        target,
                    )
                    continue
                if kind == TRANSIENT:
                    result.kept += 1
                    log.warning(
                        "mail %r to %s refused for now (%s): kept for the next pass",
                        message["Subject"],
                        to,
                        _smtp_reason(error),
                    )
                    continue
                result.kept += len(files) - position
                result.server_problem = describe(error) if describe else _smtp_reason(error)
                result.server_error = english(result.server_problem)
                log.warning(
                    "%s %s kept in the queue for the next pass",
                    result.server_error,
                    plural(len(files) - position, "message"),
                )
                break
            _remove(path)
            result.delivered += 1
            log.info("mail %r sent to %s", message["Subject"], to)
        result.remaining = len(queued_files(queue_dir))
    return result


# -- the command ----------------------------------------------------------------------------------


def site_mailer(registry):
    """``(smtp mailer, suppressed, describe)`` from the site configuration as it is now."""
    from flicket.admin.models import Config
    from flicket.admin.services import describe_mail_error, mailer_from_config, smtp_address
    from flicket.db import get_tm_session

    settings = registry.settings
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(registry["dbsession_factory"], manager)
        config = session.scalars(sa.select(Config).order_by(Config.id).limit(1)).first()
        mailer = mailer_from_config(settings, config).smtp_mailer
        suppressed = bool(config is not None and config.mail_suppress_send)
        host, port = smtp_address(settings, config)
    return mailer, suppressed, lambda error: describe_mail_error(error, host, port)


def _messages(count):
    return pluralize("${count} message", "${count} messages", count)


def summary(result):
    """What one pass did, in the operator's language."""
    if result.busy:
        return say(_("Another flicket-mail-queue is sending this queue; nothing done."))
    if result.held:
        return say(
            _(
                "Nothing sent: “Suppress sending” is on in the site configuration; "
                "${messages} kept in the queue.",
                mapping={"messages": _messages(result.remaining)},
            )
        )
    if result.failed:
        sent = _(
            "Sent ${messages}, ${failed} refused for good (moved to ${folder}/)",
            mapping={
                "messages": _messages(result.delivered),
                "failed": result.failed,
                "folder": FAILED_FOLDER,
            },
        )
    else:
        sent = _("Sent ${messages}", mapping={"messages": _messages(result.delivered)})
    sentences = [say(sent)]
    problem = result.server_problem or result.server_error
    if problem:
        sentences.append(say(problem).rstrip("."))
    if result.remaining:
        sentences.append(
            say(
                _(
                    "${messages} left in the queue for the next pass",
                    mapping={"messages": _messages(result.remaining)},
                )
            )
        )
    return ". ".join(sentences) + "."


def _exit_code(result):
    if result.busy or result.held:
        return EXIT_OK
    return EXIT_FAILED if (result.remaining or result.failed) else EXIT_OK


def one_pass(registry, queue_dir, stop=None):
    mailer, suppressed, describe = site_mailer(registry)
    return drain_queue(queue_dir, mailer, suppressed=suppressed, describe=describe, stop=stop)


def run(args, out=print, stop=None):
    if args.interval <= 0:
        raise CommandError(_("--interval must be more than 0 seconds."))
    with bootstrapped(args.config_uri) as env:
        registry = env["registry"]
        settings = registry.settings
        require_schema(registry["dbengine"], "flicket_config")
        queue_dir = settings["flicket.mail.queue_dir"]
        if os.path.isdir(queue_dir) and not os.access(queue_dir, os.R_OK | os.W_OK | os.X_OK):
            raise CommandError(
                _(
                    "Cannot work in the queue folder ${folder}: run this command as the user "
                    "the web application runs as.",
                    mapping={"folder": queue_dir},
                )
            )
        if settings["flicket.mail.mode"] != "queue":
            out(
                say(
                    _(
                        "Note: flicket.mail.mode is ${mode}, so the application does not "
                        "queue mail; sending what is left in ${folder}.",
                        mapping={
                            "mode": repr(settings["flicket.mail.mode"]),
                            "folder": queue_dir,
                        },
                    )
                )
            )
        if args.once:
            result = one_pass(registry, queue_dir)
            out(summary(result))
            return _exit_code(result)
        return _loop(registry, queue_dir, args.interval, out, stop or _stop_on_signals())


def _stop_on_signals():
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread: the caller stops us
            signal.signal(signum, handler)
    return stop


def _loop(registry, queue_dir, interval, out, stop):
    log.info("sending the mail queue %s every %s s", queue_dir, interval)
    last = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = one_pass(registry, queue_dir, stop)
        except sa.exc.SQLAlchemyError as error:
            first = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            text = say(
                _(
                    "Cannot read the site configuration (database error: ${reason}); retrying.",
                    mapping={"reason": first},
                )
            )
            news = False
        except OSError as error:
            text = say(
                _(
                    "Cannot work in the queue folder (${reason}); retrying.",
                    mapping={"reason": str(error)},
                )
            )
            news = False
        else:
            text = summary(result)
            news = bool(result.delivered or result.failed)
            if not (news or result.remaining or result.held):
                text = None  # an empty queue: nothing to say
        # Messages sent or failed are always reported; a state that lasts (server down,
        # sending suppressed) only when it starts.
        if text and (news or text != last):
            out(text)
        last = text
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
    out(say(_("Stopped.")))
    return EXIT_OK


def parser():
    parser = make_parser(
        "flicket-mail-queue",
        "Send the e-mail that Flicket queued (flicket.mail.mode = queue) through the SMTP "
        "server of the site configuration. Messages the server accepts leave the queue; "
        "while it is down, slow or answers with a temporary (4xx) error they stay queued "
        "and are tried again on the next pass; a message refused for good (5xx) is moved to "
        "the failed/ folder beside the queue and logged. Nothing is sent while 'Suppress "
        "sending' is on.\n\n"
        "Run it as the same user as the web application, either as a service:\n"
        "  flicket-mail-queue /etc/flicket/production.ini --interval 30\n"
        "or from cron, every minute:\n"
        "  * * * * *  flicket-mail-queue /etc/flicket/production.ini --once\n\n"
        "Exit codes with --once: 0 the queue was sent (or is held by 'Suppress sending'), "
        "1 messages are left in the queue or were refused for good, 2 bad arguments or "
        "configuration.",
    )
    parser.add_argument(
        "--once", action="store_true", help="make one pass over the queue, then exit (for cron)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"without --once: wait this long between two passes (default: {DEFAULT_INTERVAL:g})",
    )
    return parser


def main(argv=None):
    """``flicket-mail-queue <ini> [--once] [--interval SECONDS]``"""
    return run_main("flicket-mail-queue", parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
