#!/usr/bin/env python3
"""Flicket's speed benchmark: every main page and API endpoint against a floor, at size.

One command, from a checkout with Flicket installed (``pip install -e .``)::

    .venv/bin/python benchmarks/benchmark.py --tickets 100000

1. The database: a SQLite file in ``--workdir`` named after the size, or the MariaDB or
   PostgreSQL database of ``--database-url`` (created when missing). ``flicket-setup``
   creates or upgrades its schema; an empty one is filled by ``flicket-populate``
   (``--tickets``, ``--replies-per-ticket``, ``--users``, a fixed seed), one that holds
   tickets already is reused as it is (the endpoints that write add a few rows per run).
2. ``pserve`` of ``production.ini`` (waitress, ``--threads`` threads, the production
   settings, with the per-user business limits lifted: one benchmark user writes far faster
   than people) on a free loopback port, and the floor (``floor.py``: a minimal Pyramid
   app rendering a 50-row Jinja2 table from the same database with one query) under the
   same waitress settings on another.
3. Logged in through the login form as a demo agent, with an API token, each endpoint is
   driven for ``--duration`` seconds by ``--connections`` keep-alive connections: ``wrk``
   when it is installed (Debian package ``wrk``), else a Python client (threads; it shares
   the two cores with the server, so its figures are lower). The floor is measured the same
   way in the same run.
4. The SQL statements of one request to each endpoint are counted in this process, over
   the same application (loaded from the same ini) and the same data, with an engine event
   (nothing is counted in the server).
5. A table: requests/s, median and 99th-percentile latency, SQL queries per request, the
   throughput as a fraction of the floor's and the issue's target for it; ``--json FILE``
   writes the same figures (and the machine's load average) for comparison between runs.

Exit status: 0 when every answer had the expected status (targets are reported, not
enforced), 1 when an endpoint answered something else, 2 for bad arguments or set-up.
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from serving import free_port, percentile, tool, wait_for_server, write_ini

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
#: The demo users' password (flicket-populate --password) and the benchmark admin's.
USER_PASSWORD = "benchmark user passphrase 42"  # noqa: S105 - local benchmark data
ADMIN_PASSWORD = "benchmark administrator passphrase 42"  # noqa: S105
SEED = 42
REQUEST_TIMEOUT = 30

#: The issue's targets: the fraction of the floor's throughput each endpoint must reach.
HALF, QUARTER = 0.5, 0.25
MAX_P99_MS = 250
MAX_SEARCH_MEDIAN_MS = 50


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets (10000)")
    parser.add_argument(
        "--replies-per-ticket", type=float, default=10, help="average replies per ticket (10)"
    )
    parser.add_argument("--users", type=int, default=500, help="demo users (500)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a MariaDB/PostgreSQL database (created when missing, reused when it has "
        "tickets); default: a SQLite file in --workdir named after the size",
    )
    parser.add_argument(
        "--workdir",
        default=str(ROOT / "var" / "benchmark"),
        help="SQLite databases, logs and the server's files (default: var/benchmark)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per endpoint (10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (4)")
    parser.add_argument(
        "--client", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument("--only", default="", help="comma-separated endpoint names to run")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.tickets <= 2_000_000:
        parser.error("--tickets must be 1 to 2000000")
    if not 0 <= args.replies_per_ticket <= 100:
        parser.error("--replies-per-ticket must be 0 to 100")
    if not 2 <= args.users <= 100_000:
        parser.error("--users must be 2 to 100000")
    if not 0.5 <= args.duration <= 600:
        parser.error("--duration must be 0.5 to 600 seconds")
    if not 1 <= args.connections <= 256:
        parser.error("--connections must be 1 to 256")
    if not 1 <= args.threads <= 64:
        parser.error("--threads must be 1 to 64")
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("--client wrk: wrk is not installed (apt-get install wrk)")
    return args


def fail(message):
    raise SystemExit(f"benchmark: {message}")


# -- the database -----------------------------------------------------------------------------


def size_name(tickets):
    return f"{tickets // 1000}k" if tickets % 1000 == 0 else str(tickets)


def ensure_server_database(url):
    """Create the MariaDB/PostgreSQL database of ``url`` if it does not exist."""
    import sqlalchemy as sa

    url = sa.engine.make_url(url)
    backend = url.get_backend_name()
    admin_url = url.set(database="postgres" if backend == "postgresql" else "")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = admin.dialect.identifier_preparer.quote(url.database)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                exists = conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": url.database},
                )
                if not exists:
                    conn.exec_driver_sql(f"CREATE DATABASE {name} ENCODING 'UTF8'")
            else:
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS {name} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
    finally:
        admin.dispose()


def run_command(command, env, what, timeout=3600):
    result = subprocess.run(  # noqa: S603 - our own console scripts
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        fail(f"{what} failed (exit {result.returncode})")
    return result.stdout


def database_size(database_url):
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            tickets = conn.scalar(sa.text("SELECT COUNT(*) FROM flicket_topic"))
            replies = conn.scalar(sa.text("SELECT COUNT(*) FROM flicket_post"))
    finally:
        engine.dispose()
    return tickets, replies


def prepare_database(args, ini, env):
    """Set up (or upgrade) the database and fill it when empty; returns its size."""
    started = time.monotonic()
    run_command(
        [
            tool("flicket-setup", "benchmark"),
            str(ini),
            "--no-input",
            "--admin-email",
            "benchmark-admin@example.com",
            "--admin-password",
            ADMIN_PASSWORD,
        ],
        env,
        "flicket-setup",
    )
    tickets, replies = database_size(env["FLICKET_DATABASE_URL"])
    if tickets:
        print(f"database: reusing {tickets:,} tickets and {replies:,} replies")
        return tickets, replies, False
    print(
        f"database: populating {args.tickets:,} tickets with about "
        f"{args.replies_per_ticket:g} replies each (flicket-populate)...",
        flush=True,
    )
    run_command(
        [
            tool("flicket-populate", "benchmark"),
            str(ini),
            "--tickets",
            str(args.tickets),
            "--replies-per-ticket",
            str(args.replies_per_ticket),
            "--users",
            str(args.users),
            "--departments",
            "4",
            "--seed",
            str(SEED),
            "--password",
            USER_PASSWORD,
            "--no-progress",
        ],
        env,
        "flicket-populate",
    )
    tickets, replies = database_size(env["FLICKET_DATABASE_URL"])
    print(
        f"database: {tickets:,} tickets, {replies:,} replies in {time.monotonic() - started:.0f} s"
    )
    return tickets, replies, True


def choose_subjects(database_url):
    """What the endpoints ask for, chosen from the data: the demo agent with the most
    open tickets (created or assigned), a ticket with 20 replies (or the nearest count), a
    ticket to reply to, the busiest department and a word found in replies."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            username = conn.scalar(
                sa.text(
                    "SELECT u.username FROM flicket_users u "
                    "JOIN flicket_topic t ON t.assigned_id = u.id "
                    "WHERE u.disabled = :no AND u.username LIKE '%.%' "
                    "GROUP BY u.id, u.username ORDER BY COUNT(*) DESC, u.id LIMIT 1"
                ),
                {"no": False},
            )
            if username is None:
                fail("the database has no demo agent with tickets (flicket-populate users)")
            view_ticket = conn.scalar(
                sa.text(
                    "SELECT ticket_id FROM flicket_post GROUP BY ticket_id "
                    "ORDER BY ABS(COUNT(*) - 20), ticket_id LIMIT 1"
                )
            )
            reply_ticket = conn.scalar(
                sa.text("SELECT MIN(id) FROM flicket_topic WHERE id <> :view"),
                {"view": view_ticket},
            )
            department, status = conn.execute(
                sa.text(
                    "SELECT d.department, s.status FROM flicket_topic t "
                    "JOIN flicket_category c ON c.id = t.category_id "
                    "JOIN flicket_department d ON d.id = c.department_id "
                    "JOIN flicket_status s ON s.id = t.status_id "
                    "WHERE s.status = 'Open' "
                    "GROUP BY d.department, s.status ORDER BY COUNT(*) DESC LIMIT 1"
                )
            ).one()
            category_id = conn.scalar(sa.text("SELECT MIN(id) FROM flicket_category"))
            listed = conn.scalar(
                sa.text(
                    "SELECT COUNT(*) FROM flicket_topic t "
                    "LEFT JOIN flicket_status s ON s.id = t.status_id "
                    "WHERE s.status IS NULL OR s.status <> 'Closed'"
                )
            )
            view_replies = conn.scalar(
                sa.text("SELECT COUNT(*) FROM flicket_post WHERE ticket_id = :id"),
                {"id": view_ticket},
            )
    finally:
        engine.dispose()
    return {
        "username": username,
        "view_ticket": view_ticket,
        "view_replies": view_replies,
        "reply_ticket": reply_ticket,
        "department": department,
        "status": status,
        "category_id": category_id,
        # The last page of the default list (the tickets that are not Closed).
        "last_page": max(1, -(-listed // 50)),
        # flicket-populate writes it in some agents' replies ("...was misconfigured...").
        "word": "misconfigured",
    }


# -- the endpoints ----------------------------------------------------------------------------


class Endpoint:
    def __init__(self, name, path, *, method="GET", api=False, body=None, expected=200, target):
        self.name = name
        self.path = path
        self.method = method
        self.api = api
        self.body = body
        self.expected = expected
        self.target = target  # fraction of the floor's throughput to reach


def endpoints(subjects, tickets):
    s = subjects
    query = urlencode({"department": s["department"], "status": s["status"]})
    reply_body = {"content": "A benchmark reply: the fan was misconfigured, it is fixed now."}
    ticket_body = {
        "title": "Benchmark ticket: the badge reader is slow",
        "content": "Made by the benchmark. The badge reader at reception is slow today.",
        "category_id": s["category_id"],
        "ticket_priority_id": 1,
    }
    # The last page of the default list (50 a page): later pages cost the same.
    last_page = s["last_page"]
    return [
        Endpoint("ticket list", "/tickets/", target=HALF),
        Endpoint("list by replies", "/tickets/?sort=replies_desc", target=HALF),
        Endpoint(f"list page {last_page}", f"/tickets/{last_page}/", target=HALF),
        Endpoint("list dept+status", f"/tickets/?{query}", target=HALF),
        Endpoint("search replies", f"/tickets/?content={s['word']}", target=None),
        Endpoint("my tickets", "/my_tickets/", target=HALF),
        Endpoint(
            f"ticket view ({s['view_replies']})", f"/ticket_view/{s['view_ticket']}/", target=HALF
        ),
        Endpoint("home", "/", target=QUARTER),
        Endpoint("api ticket list", "/flicket-api/tickets/", api=True, target=HALF),
        Endpoint("api ticket", f"/flicket-api/ticket/{s['view_ticket']}", api=True, target=HALF),
        Endpoint(
            "api create ticket",
            "/flicket-api/tickets",
            method="POST",
            api=True,
            body=ticket_body,
            expected=201,
            target=HALF,
        ),
        Endpoint(
            "api reply",
            f"/flicket-api/ticket/{s['reply_ticket']}/replies",
            method="POST",
            api=True,
            body=reply_body,
            expected=201,
            target=HALF,
        ),
    ]


# -- logging in -------------------------------------------------------------------------------


def fetch(port, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def base_headers(port):
    # As a browser behind the HTTPS proxy production.ini trusts (the cookie is Secure).
    return {"Host": f"127.0.0.1:{port}", "X-Forwarded-Proto": "https"}


def log_in(port, username):
    """(session cookie header, bearer token) of ``username``."""
    headers = base_headers(port)
    response, page = fetch(port, "GET", "/login", headers)
    match = CSRF_RE.search(page)
    if response.status != 200 or not match:
        fail(f"GET /login: {response.status}")
    cookies = {}

    def keep(response):
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]

    keep(response)
    origin = f"https://127.0.0.1:{port}"
    form = urlencode(
        {"csrf_token": match.group(1), "username": username, "password": USER_PASSWORD}
    )
    response, _ = fetch(
        port,
        "POST",
        "/login",
        {
            **headers,
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": origin + "/login",
        },
        form,
    )
    if response.status != 302:
        fail(f"logging in as {username}: {response.status}")
    keep(response)
    basic = base64.b64encode(f"{username}:{USER_PASSWORD}".encode()).decode()
    response, text = fetch(
        port, "POST", "/flicket-api/tokens", {**headers, "Authorization": "Basic " + basic}
    )
    if response.status != 200:
        fail(f"POST /flicket-api/tokens: {response.status}")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return cookie, json.loads(text)["token"]


def request_headers(port, endpoint, cookie, token):
    headers = base_headers(port)
    if endpoint.api:
        headers["Authorization"] = f"Bearer {token}"
        headers["Accept"] = "application/json"
    else:
        headers["Cookie"] = cookie
        headers["Accept"] = "text/html"
    if endpoint.body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def check_once(port, endpoint, headers):
    body = json.dumps(endpoint.body) if endpoint.body is not None else None
    response, text = fetch(port, endpoint.method, endpoint.path, headers, body)
    if response.status != endpoint.expected:
        fail(
            f"{endpoint.name}: {endpoint.method} {endpoint.path} answered {response.status}, "
            f"not {endpoint.expected}: {text[:300]!r}"
        )


# -- load generators --------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
local threads = {}
statuses = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, '"' .. status .. '":' .. count) end
  io.write(string.format(
    'WRK-RESULT {"requests":%%d,"seconds":%%f,"median_us":%%d,"p99_us":%%d,' ..
    '"errors":%%d,"statuses":{%%s}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
"""


def lua_string(value):
    return json.dumps(value)  # a JSON string is a valid Lua string literal for our ASCII text


def run_wrk(port, path, method, headers, body, connections, duration, workdir):
    script = workdir / "wrk-endpoint.lua"
    header_lines = "\n".join(
        f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()
    )
    script.write_text(
        WRK_SCRIPT
        % {
            "method": lua_string(method),
            "body": lua_string(body) if body is not None else "nil",
            "headers": header_lines,
        },
        encoding="utf-8",
    )
    command = [
        "wrk",
        f"--threads={min(2, connections)}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        f"--timeout={REQUEST_TIMEOUT}s",
        f"--script={script}",
        f"http://127.0.0.1:{port}{path}",
    ]
    output = subprocess.run(  # noqa: S603 - wrk on loopback
        command, capture_output=True, text=True, timeout=duration + 120, check=False
    ).stdout
    match = re.search(r"^WRK-RESULT (.*)$", output, re.M)
    if not match:
        fail(f"wrk printed no result:\n{output}")
    raw = json.loads(match.group(1))
    return {
        "requests": raw["requests"],
        "seconds": raw["seconds"],
        "median_ms": raw["median_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["errors"],
        "statuses": {int(k): v for k, v in raw["statuses"].items()},
    }


def run_python_client(port, path, method, headers, body, connections, duration):
    """``connections`` threads, each with a keep-alive connection, for ``duration`` s."""
    latencies, statuses, errors = [], {}, [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client():
        conn = None
        mine, my_statuses, my_errors = [], {}, 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                my_errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            mine.append(time.perf_counter() - started)
            my_statuses[response.status] = my_statuses.get(response.status, 0) + 1
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in my_statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            errors[0] += my_errors

    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + REQUEST_TIMEOUT + 10)
    seconds = time.monotonic() - started
    latencies = latencies or [0.0]
    return {
        "requests": sum(statuses.values()),
        "seconds": seconds,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors[0],
        "statuses": statuses,
    }


def drive(args, client, port, path, method="GET", headers=None, body=None):
    headers = headers or base_headers(port)
    payload = json.dumps(body) if body is not None else None
    if client == "wrk":
        result = run_wrk(
            port, path, method, headers, payload, args.connections, args.duration, args.workdir
        )
    else:
        result = run_python_client(
            port, path, method, headers, payload, args.connections, args.duration
        )
    result["rps"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    return result


# -- counting SQL statements ------------------------------------------------------------------


def count_queries(ini, endpoints_, port, cookie, token):
    """SQL statements of one request to each endpoint (the second of two: the first fills
    the template and route caches), run in this process over the same app and data."""
    import sqlalchemy as sa
    from pyramid.paster import get_app
    from webob import Request

    app = get_app(str(ini), "main")
    engine = app.registry["dbengine"]
    counts = {}
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    try:
        for endpoint in endpoints_:
            headers = request_headers(port, endpoint, cookie, token)
            for attempt in range(2):
                request = Request.blank(
                    endpoint.path,
                    base_url=f"https://127.0.0.1:{port}",
                    method=endpoint.method,
                    headers=headers,
                    remote_addr="127.0.0.1",
                )
                if endpoint.body is not None:
                    request.body = json.dumps(endpoint.body).encode()
                if attempt:
                    statements.clear()
                    sa.event.listen(engine, "before_cursor_execute", record)
                try:
                    response = request.get_response(app)
                finally:
                    if attempt:
                        sa.event.remove(engine, "before_cursor_execute", record)
                if response.status_int != endpoint.expected:
                    fail(f"{endpoint.name} (counting queries): {response.status}")
            counts[endpoint.name] = len(statements)
    finally:
        engine.dispose()
    return counts


# -- the report -------------------------------------------------------------------------------


def target_text(endpoint, result, ratio):
    misses = []
    if endpoint.target is not None and ratio < endpoint.target:
        misses.append(f"<{endpoint.target:.0%} floor")
    if endpoint.target is None and result["median_ms"] > MAX_SEARCH_MEDIAN_MS:
        misses.append(f"median>{MAX_SEARCH_MEDIAN_MS}ms")
    if result["p99_ms"] > MAX_P99_MS:
        misses.append(f"p99>{MAX_P99_MS}ms")
    wanted = (
        f"≥{endpoint.target:.0%}" if endpoint.target is not None else f"≤{MAX_SEARCH_MEDIAN_MS}ms"
    )
    return wanted, ("MISSED " + ", ".join(misses)) if misses else "ok"


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    args.workdir = workdir
    if args.database_url:
        database_url = args.database_url
        if not database_url.startswith("sqlite"):
            ensure_server_database(database_url)
    else:
        name = f"flicket-{size_name(args.tickets)}-{args.replies_per_ticket:g}.sqlite"
        database_url = f"sqlite:///{workdir / name}"
    kind = database_url.split(":", 1)[0].split("+", 1)[0]
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    port, floor_port = free_port(), free_port()
    ini = write_ini(run_dir, port, args.threads, "benchmark")
    env = dict(os.environ)
    env.update(
        FLICKET_DATABASE_URL=database_url,
        FLICKET_SECRET=secrets.token_urlsafe(64),
        FLICKET_DATA_DIR=str(run_dir / "data"),
    )
    # The in-process app (query counts) reads the same variables.
    os.environ.update(
        {k: env[k] for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR")}
    )

    tickets, replies, built = prepare_database(args, ini, env)
    subjects = choose_subjects(database_url)
    chosen = endpoints(subjects, tickets)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        chosen = [e for e in chosen if e.name in wanted or e.name.split(" (")[0] in wanted]
        if not chosen:
            fail(f"--only {args.only!r} names no endpoint")

    processes = []
    server_log = run_dir / "pserve.log"
    floor_log = run_dir / "floor.log"
    results = {}
    load_before = load_average()
    try:
        with open(server_log, "wb") as log:
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own pserve, on loopback
                    [tool("pserve", "benchmark"), str(ini)],
                    cwd=run_dir,
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        with open(floor_log, "wb") as log:
            processes.append(
                subprocess.Popen(  # noqa: S603 - the floor app, on loopback
                    [
                        sys.executable,
                        str(HERE / "floor.py"),
                        database_url,
                        "--port",
                        str(floor_port),
                        "--threads",
                        str(args.threads),
                    ],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        wait_for_server(port, processes[0], server_log, "benchmark", limit=120)
        wait_for_server(floor_port, processes[1], floor_log, "benchmark", path="/", limit=120)
        cookie, token = log_in(port, subjects["username"])
        print(
            f"server: pserve production.ini, waitress {args.threads} threads, port {port}; "
            f"floor on port {floor_port}; {client}, {args.connections} connections, "
            f"{args.duration:g} s each; user {subjects['username']}"
        )
        floor = drive(args, client, floor_port, "/")
        if set(floor["statuses"]) != {200} or floor["errors"]:
            fail(f"the floor answered {floor['statuses']} ({floor['errors']} errors)")
        print(f"floor: {floor['rps']:.0f} req/s, median {floor['median_ms']:.1f} ms", flush=True)
        for endpoint in chosen:
            headers = request_headers(port, endpoint, cookie, token)
            check_once(port, endpoint, headers)
            result = drive(
                args, client, port, endpoint.path, endpoint.method, headers, endpoint.body
            )
            results[endpoint.name] = result
            print(f"  {endpoint.name}: {result['rps']:.0f} req/s", flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    load_after = load_average()
    queries = count_queries(ini, chosen, port, cookie, token)
    floor_queries = 1

    problems = []
    rows = []
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": kind,
        "tickets": tickets,
        "replies": replies,
        "built_now": built,
        "client": client,
        "connections": args.connections,
        "waitress_threads": args.threads,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "subjects": subjects,
        "floor": {**_rounded(floor), "queries": floor_queries},
        "endpoints": {},
    }
    for endpoint in chosen:
        result = results[endpoint.name]
        ratio = result["rps"] / floor["rps"] if floor["rps"] else 0.0
        wanted, verdict = target_text(endpoint, result, ratio)
        unexpected = {s: n for s, n in result["statuses"].items() if s != endpoint.expected}
        if unexpected or result["errors"]:
            problems.append(
                f"{endpoint.name}: unexpected answers {unexpected}, {result['errors']} errors"
            )
        summary["endpoints"][endpoint.name] = {
            **_rounded(result),
            "method": endpoint.method,
            "path": endpoint.path,
            "queries": queries[endpoint.name],
            "floor_ratio": round(ratio, 3),
            "target": wanted,
            "verdict": verdict,
        }
        rows.append((endpoint.name, result, queries[endpoint.name], ratio, wanted, verdict))

    print()
    print(
        f"Flicket benchmark: {kind}, {tickets:,} tickets, {replies:,} replies; {client}, "
        f"{args.connections} connections, {args.duration:g} s per endpoint, waitress "
        f"{args.threads} threads; load average {_load(load_before)} before, "
        f"{_load(load_after)} after ({os.cpu_count()} CPUs)"
    )
    header = (
        f"{'endpoint':24} {'req/s':>8} {'median ms':>9} {'p99 ms':>8} {'queries':>7} "
        f"{'floor':>6}  {'target':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'floor (1 query, 50 rows)':24} {floor['rps']:8.0f} {floor['median_ms']:9.1f} "
        f"{floor['p99_ms']:8.1f} {floor_queries:7} {1:6.0%}"
    )
    for name, result, count, ratio, wanted, verdict in rows:
        print(
            f"{name:24} {result['rps']:8.0f} {result['median_ms']:9.1f} {result['p99_ms']:8.1f} "
            f"{count:7} {ratio:6.0%}  {wanted:>7}  {verdict}"
        )
    log_text = server_log.read_text(encoding="utf-8", errors="replace")
    if re.search(r"incident|QueuePool limit|Exception while serving", log_text):
        problems.append(f"the server logged errors (see {server_log})")
    summary["problems"] = problems
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        print(f"(server files kept in {run_dir})")
        return 1
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def _rounded(result):
    return {
        "requests": result["requests"],
        "rps": round(result["rps"], 1),
        "median_ms": round(result["median_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
        "errors": result["errors"],
        "statuses": {str(k): v for k, v in result["statuses"].items()},
    }


def _load(values):
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


if __name__ == "__main__":
    sys.exit(main())
