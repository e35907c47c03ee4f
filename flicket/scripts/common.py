"""What every Flicket console command shares: the ini argument, loading the application,
and turning expected failures into a one-line message and an exit code (no traceback).

Exit codes: 0 done, 1 the work failed (database unreachable, mail not delivered...),
2 bad input (bad arguments, unreadable or malformed file, database not set up).
"""

import argparse
import contextlib
import sys
import textwrap

import sqlalchemy as sa
from pyramid import paster

from flicket.settings import ConfigurationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """The command cannot go on; the message says why and what to do."""

    def __init__(self, message, exit_code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


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
            f"The database has no {missing[0]} table: run flicket-setup with this ini file first."
        )


def run_main(prog, parser, run, argv=None, out=print):
    """Parse ``argv``, run ``run(args, out)`` and map failures to an exit code."""
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        paster.setup_logging(args.config_uri)
        result = run(args, out)
    except CommandError as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ConfigurationError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        print(f"{prog}: cannot read {exc.filename}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__
        print(f"{prog}: database error: {detail.splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else EXIT_OK


def plural(count, word, words=None):
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
