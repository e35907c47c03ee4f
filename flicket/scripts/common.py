"""What every Flicket console command shares: the ini argument, loading the application,
and turning expected failures into a one-line message and an exit code (no traceback).

Exit codes: 0 done, 1 the work failed (database unreachable, mail not delivered...),
2 bad input (bad arguments, unreadable or malformed file, database not set up).

What the commands print for people is marked for translation and printed with ``say`` in
the language of the operator's terminal (``LANG``...; English by default). The argparse
help texts stay English.
"""

import argparse
import contextlib
import sys
import textwrap

import sqlalchemy as sa
from babel import numbers
from pyramid import paster

from flicket import i18n
from flicket.i18n import _, console_localizer, english, translate
from flicket.settings import ConfigurationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """The command cannot go on; ``message`` (to translate) says why and what to do;
    ``str(error)`` is the English text."""

    def __init__(self, message, exit_code=EXIT_BAD_INPUT):
        super().__init__(english(message))
        self.message = message
        self.exit_code = exit_code


def say(message):
    """``message`` in the operator's language (see ``flicket.i18n.console_locale``)."""
    return translate(message, console_localizer())


def number(value, pattern=None):
    """``value`` with the separators of the operator's language (``1,234``; ``pattern``:
    a Babel number pattern, e.g. ``"0.0"``)."""
    return numbers.format_decimal(value, format=pattern, locale=console_localizer().locale_name)


def pluralize(singular, plural, n, **mapping):
    """``singular`` or ``plural`` for ``n``, in the operator's language; ``${count}`` is
    ``n`` written with the language's separators."""
    return i18n.pluralize(
        singular, plural, n, localizer=console_localizer(), count=number(n), **mapping
    )


def _wrap(text, width=79):
    """Wrap each paragraph of ``text``; lines that start with spaces (examples) are kept."""
    if not text:
        return text
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        kept = []
        prose = []
        for line in lines:
            if line.startswith(" "):
                if prose:
                    kept.append(textwrap.fill(" ".join(prose), width))
                    prose = []
                kept.append(line)
            else:
                prose.append(line)
        if prose:
            kept.append(textwrap.fill(" ".join(prose), width))
        paragraphs.append("\n".join(kept))
    return "\n\n".join(paragraphs)


def make_parser(prog, description, epilog=None):
    """An argument parser whose first argument is the ini file."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=_wrap(description),
        epilog=_wrap(epilog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config_uri", metavar="INI", help="the application's ini file, e.g. production.ini"
    )
    return parser


@contextlib.contextmanager
def bootstrapped(config_uri):
    """The application loaded from ``config_uri``: yields pyramid's bootstrap environment
    (``request``, ``registry``...), and closes it and its database engine afterwards."""
    env = paster.bootstrap(config_uri)
    try:
        yield env
    finally:
        env["closer"]()
        engine = env["registry"].get("dbengine")
        if engine is not None:
            engine.dispose()


def require_schema(engine, *tables):
    """Refuse to go on when flicket-setup has not created the tables yet."""
    names = tables or ("flicket_users", "flicket_topic")
    existing = set(sa.inspect(engine).get_table_names())
    missing = [name for name in names if name not in existing]
    if missing:
        raise CommandError(
            _(
                "The database has no ${table} table: run flicket-setup with this ini file first.",
                mapping={"table": missing[0]},
            )
        )


def run_main(prog, parser, run, argv=None, out=print):
    """Parse ``argv``, run ``run(args, out)`` and map failures to an exit code."""
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        paster.setup_logging(args.config_uri)
        result = run(args, out)
    except CommandError as exc:
        print(f"{prog}: {say(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except ConfigurationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        message = _("cannot read ${file}", mapping={"file": str(exc.filename)})
        print(f"{prog}: {say(message)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__
        message = _("database error: ${detail}", mapping={"detail": detail.splitlines()[0]})
        print(f"{prog}: {say(message)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        message = _("interrupted")
        print(f"{prog}: {say(message)}", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else EXIT_OK


def plural(count, word, words=None):
    """``1 user``, ``1,234 users``: in English, for the logs (``pluralize`` for people)."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
