#!/usr/bin/env python3
"""The benchmark's floor: the least a Pyramid page can cost on this machine and database.

A minimal Pyramid application (pyramid_jinja2, no session, no security policy, no tweens
of Flicket's) whose one page runs one SQL query for 50 tickets of the same database and
renders them as a Jinja2 table. ``benchmark.py`` serves it with the same waitress settings
as Flicket and drives it with the same load generator, so each Flicket endpoint's
throughput can be read as a fraction of this one.

    python benchmarks/floor.py DATABASE_URL --port 8080 --threads 4
"""

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa
import waitress
from pyramid.config import Configurator

HERE = Path(__file__).resolve().parent
ROWS = 50

tickets = sa.table(
    "flicket_topic",
    sa.column("id"),
    sa.column("title"),
    sa.column("date_added"),
    sa.column("last_updated"),
)


def make_app(database_url):
    engine = sa.create_engine(database_url, pool_size=10, pool_pre_ping=True)
    query = (
        sa.select(tickets.c.id, tickets.c.title, tickets.c.date_added, tickets.c.last_updated)
        .order_by(tickets.c.id.desc())
        .limit(ROWS)
    )

    def table(request):
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return {"rows": rows}

    with Configurator(settings={"pyramid.reload_templates": False}) as config:
        config.include("pyramid_jinja2")
        config.add_jinja2_search_path(str(HERE), name=".jinja2")
        config.add_route("floor", "/")
        config.add_view(table, route_name="floor", renderer="floor.jinja2")
    return config.make_wsgi_app()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    waitress.serve(
        make_app(args.database_url),
        listen=f"127.0.0.1:{args.port}",
        threads=args.threads,
        ident="floor",
        _quiet=True,
    )


if __name__ == "__main__":
    sys.exit(main())
