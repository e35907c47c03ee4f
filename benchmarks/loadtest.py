#!/usr/bin/env python3
"""Flicket load test (REL-12): a real server under concurrent users, with numbers.

What it does, from a checkout with Flicket installed (``pip install -e .``):

1. makes a working folder (a temporary one unless ``--workdir``), copies ``production.ini``
   there with a free loopback port, and sets the database up with ``flicket-setup``
   (SQLite file in the working folder by default; ``--database-url`` for MariaDB or
   PostgreSQL: an existing Flicket database is upgraded and used, never emptied);
2. adds load-test users (``loadtest-N``, one per client), two departments and
   ``--tickets`` tickets with replies, straight through the models;
3. starts ``pserve production.ini`` (waitress, 4 threads, bcrypt cost 12, mail queue,
   rate limits in the database: the production settings) in a subprocess;
4. runs ``--clients`` concurrent clients for ``--duration`` seconds. Each logs in once
   through the form (CSRF token, as a browser behind the HTTPS proxy), takes an API token,
   then loops over a weighted mix: home, ticket list, search, ticket page, API list, reply
   through the HTML form, API reply and API new ticket. Every response is counted by kind
   and status and timed;
5. at the end counts, in the database, the rows of every write a client saw acknowledged
   (each write carries a unique text) and prints a table: requests, req/s, median and p99
   latency per kind, statuses, writes acknowledged vs rows found.

Exit status: 0 when every answer was the expected one (no 5xx, no 4xx, no connection
error), every acknowledged write is stored exactly once and the server logged no error;
1 otherwise; 2 for bad arguments or a failed set-up. Loopback only; it stops by itself.

    python benchmarks/loadtest.py                           # SQLite, 16 clients, 30 s
    python benchmarks/loadtest.py --clients 16 --duration 10 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/flicket_load
"""

import argparse
import base64
import http.client
import json
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from serving import free_port, percentile, tool, wait_for_server, write_ini

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "load test passphrase, never used elsewhere 42"  # noqa: S105 - local test users
ADMIN_PASSWORD = "load test administrator passphrase 42"  # noqa: S105

#: kind -> (weight in the mix, statuses that mean success)
MIX = {
    "home": (15, {200}),
    "list": (20, {200}),
    "search": (10, {200}),
    "ticket page": (20, {200}),
    "api list": (10, {200}),
    "form reply": (10, {302}),
    "api reply": (8, {201}),
    "api ticket": (7, {201}),
}
ONCE = {"login page": {200}, "login": {302}, "api token": {200}}
WRITES = ("form reply", "api reply", "api ticket")
REQUEST_TIMEOUT = 60


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent users (16)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load (30)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of a MariaDB/PostgreSQL database to use (default: a new SQLite "
        "file in the working folder); an existing Flicket database is upgraded, not emptied",
    )
    parser.add_argument("--tickets", type=int, default=100, help="tickets made before (100)")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (4)")
    parser.add_argument("--seed", type=int, default=20260101, help="random seed of the mix")
    parser.add_argument("--workdir", default=None, help="keep files here (default: temporary)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 200:
        parser.error("--clients must be 1 to 200")
    if not 1 <= args.duration <= 1800:
        parser.error("--duration must be 1 to 1800 seconds")
    if not 0 <= args.tickets <= 100_000:
        parser.error("--tickets must be 0 to 100000")
    return args


# -- set-up ---------------------------------------------------------------------------------


def run_setup(ini, env):
    result = subprocess.run(  # noqa: S603 - our own flicket-setup
        [
            tool("flicket-setup", "loadtest"),
            str(ini),
            "--no-input",
            "--admin-email",
            "loadtest-admin@example.com",
            "--admin-password",
            ADMIN_PASSWORD,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit("loadtest: flicket-setup failed")


def make_data(ini, clients, tickets, rng):
    """Load-test users (one per client, the same password), two departments and tickets
    with replies. Returns what the clients need to know."""
    import sqlalchemy as sa
    from pyramid.paster import bootstrap

    from flicket import clock
    from flicket.accounts.models import User
    from flicket.accounts.passwords import hash_password
    from flicket.departments.models import Category, Department
    from flicket.tickets.models import Post, Priority, Status, Subscription, Ticket

    env = bootstrap(str(ini))
    try:
        registry, request = env["registry"], env["request"]
        rounds = int(registry.settings["flicket.bcrypt_rounds"])
        password_hash = hash_password(PASSWORD, rounds)  # one hash, every load-test user
        with request.tm:
            db = request.dbsession
            users = []
            for n in range(clients):
                username = f"loadtest-{n}"
                user = db.scalars(sa.select(User).where(User.username == username)).first()
                if user is None:
                    user = User(
                        username=username,
                        name=f"Load Tester {n}",
                        email=f"loadtest-{n}@example.com",
                        locale="en",
                        disabled=False,
                        total_posts=0,
                        total_assigned=0,
                    )
                    db.add(user)
                user.password = password_hash
                users.append(user)
            categories = []
            for department_name in ("Load test desk A", "Load test desk B"):
                department = db.scalars(
                    sa.select(Department).where(Department.department == department_name)
                ).first()
                if department is None:
                    department = Department(department=department_name)
                    db.add(department)
                    for category_name in ("Hardware", "Software"):
                        db.add(Category(category=category_name, department=department))
                db.flush()
                categories += db.scalars(
                    sa.select(Category).where(Category.department_id == department.id)
                ).all()
            statuses = db.scalars(sa.select(Status).order_by(Status.id)).all()
            priorities = db.scalars(sa.select(Priority).order_by(Priority.id)).all()
            open_status = next(s for s in statuses if s.status == "Open")
            db.flush()
            for n in range(tickets):
                creator = rng.choice(users)
                when = clock.utcnow()
                ticket = Ticket(
                    title=f"Seeded ticket {n}: the {rng.choice(WORDS)} {rng.choice(WORDS)}",
                    content=" ".join(rng.choice(WORDS) for _ in range(40)),
                    user=creator,
                    date_added=when,
                    last_updated=when,
                    status=open_status,
                    ticket_priority=rng.choice(priorities),
                    category=rng.choice(categories),
                    hours=Decimal("0"),
                )
                db.add(ticket)
                db.flush()
                db.add(Subscription(ticket_id=ticket.id, user_id=creator.id))
                for _ in range(rng.randrange(3)):
                    db.add(
                        Post(
                            ticket=ticket,
                            user=rng.choice(users),
                            content=" ".join(rng.choice(WORDS) for _ in range(20)),
                            date_added=when,
                            hours=Decimal("0"),
                        )
                    )
                if n % 200 == 199:
                    db.flush()
            db.flush()
            ticket_ids = db.scalars(
                sa.select(Ticket.id).order_by(Ticket.id.desc()).limit(max(tickets, 20))
            ).all()
            data = {
                "usernames": [u.username for u in users],
                "ticket_ids": list(ticket_ids),
                "category_ids": [c.id for c in categories],
                "priority_ids": [p.id for p in priorities],
                "status_id": open_status.id,
            }
    finally:
        env["registry"]["dbengine"].dispose()
        env["closer"]()
    if not data["ticket_ids"]:
        raise SystemExit("loadtest: no ticket to reply to (use --tickets 1 or more)")
    return data


WORDS = (
    "printer paper toner network laptop screen keyboard mouse password account email "
    "calendar meeting room heating light door lift badge parking coffee window desk chair "
    "phone headset licence update backup server folder share invoice report"
).split()


# -- the clients ----------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)  # kind -> seconds
        self.statuses = defaultdict(Counter)  # kind -> Counter(status or "conn error")
        self.unexpected = []  # (kind, status, first bytes of the body)
        self.acknowledged = {kind: [] for kind in WRITES}  # kind -> unique texts

    def record(self, kind, status, seconds, body, expected):
        with self.lock:
            self.statuses[kind][status] += 1
            if isinstance(status, int):
                self.latencies[kind].append(seconds)
            if status not in expected and len(self.unexpected) < 20:
                self.unexpected.append((kind, status, body[:300]))


class Client:
    """A browser behind the HTTPS proxy (X-Forwarded-Proto: https) with one keep-alive
    connection, plus an API token."""

    def __init__(self, number, port, username, data, stats, rng, run_id):
        self.number = number
        self.port = port
        self.username = username
        self.data = data
        self.stats = stats
        self.rng = rng
        self.run_id = run_id
        self.cookies = {}
        self.conn = None
        self.csrf = None
        self.token = None
        self.writes = 0
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, kind, method, path, *, form=None, body=None, auth=None, expected):
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",
            "Accept": "application/json"
            if path.startswith("/flicket-api/")
            else "text/html,application/xhtml+xml,*/*;q=0.8",
        }
        if self.cookies and not path.startswith("/flicket-api/"):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        payload = None
        if form is not None:
            payload = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        elif body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = auth
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT
                )
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            self.close()
            self.stats.record(kind, "conn error", 0, repr(error), expected)
            return None, ""
        seconds = time.perf_counter() - started
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.stats.record(kind, response.status, seconds, text, expected)
        return response.status, text

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def log_in(self):
        status, page = self.request("login page", "GET", "/login", expected=ONCE["login page"])
        match = CSRF_RE.search(page)
        if status != 200 or not match:
            return False
        status, _ = self.request(
            "login",
            "POST",
            "/login",
            form={"csrf_token": match.group(1), "username": self.username, "password": PASSWORD},
            expected=ONCE["login"],
        )
        if status != 302:
            return False
        basic = base64.b64encode(f"{self.username}:{PASSWORD}".encode()).decode()
        status, text = self.request(
            "api token",
            "POST",
            "/flicket-api/tokens",
            auth="Basic " + basic,
            expected=ONCE["api token"],
        )
        if status != 200:
            return False
        self.token = "Bearer " + json.loads(text)["token"]
        return True

    def unique(self, what):
        self.writes += 1
        return f"loadtest {self.run_id} {what} c{self.number} w{self.writes}"

    def step(self, kind):
        data, rng = self.data, self.rng
        ticket_id = rng.choice(data["ticket_ids"])
        expected = MIX[kind][1]
        if kind == "home":
            self.request(kind, "GET", "/", expected=expected)
        elif kind == "list":
            page = rng.choice(["/tickets/", "/tickets/", "/tickets/2/", "/my_tickets/"])
            self.request(kind, "GET", page, expected=expected)
        elif kind == "search":
            self.request(kind, "GET", f"/tickets/?content={rng.choice(WORDS)}", expected=expected)
        elif kind == "ticket page":
            status, page = self.request(
                kind, "GET", f"/ticket_view/{ticket_id}/", expected=expected
            )
            match = CSRF_RE.search(page)
            if status == 200 and match:
                self.csrf = match.group(1)
        elif kind == "api list":
            self.request(kind, "GET", "/flicket-api/tickets/", auth=self.token, expected=expected)
        elif kind == "form reply":
            if self.csrf is None:
                self.step("ticket page")
                if self.csrf is None:
                    return
            text = self.unique("form reply")
            status, _ = self.request(
                kind,
                "POST",
                f"/ticket_view/{ticket_id}/",
                form={
                    "csrf_token": self.csrf,
                    "content": text,
                    "status": str(data["status_id"]),
                    "priority": str(rng.choice(data["priority_ids"])),
                    "hours": "0",
                    "reply": "",
                },
                expected=expected,
            )
            if status in expected:
                self.stats.acknowledged[kind].append(text)
        elif kind == "api reply":
            text = self.unique("api reply")
            status, _ = self.request(
                kind,
                "POST",
                f"/flicket-api/ticket/{ticket_id}/replies",
                body={"content": text},
                auth=self.token,
                expected=expected,
            )
            if status in expected:
                self.stats.acknowledged[kind].append(text)
        elif kind == "api ticket":
            text = self.unique("api ticket")
            status, _ = self.request(
                kind,
                "POST",
                "/flicket-api/tickets",
                body={
                    "title": text,
                    "content": "Made by the load test: " + " ".join(rng.sample(WORDS, 8)),
                    "category_id": rng.choice(data["category_ids"]),
                    "ticket_priority_id": rng.choice(data["priority_ids"]),
                },
                auth=self.token,
                expected=expected,
            )
            if status in expected:
                self.stats.acknowledged[kind].append(text)

    def run(self, ready, start, failures):
        """Log in, wait until every client has, then run the mix until the deadline."""
        try:
            logged_in = self.log_in()
            if not logged_in:
                failures.append(f"client {self.number}: could not log in")
            ready.wait()
            deadline = start["deadline"]
            if not logged_in:
                return
            kinds = list(MIX)
            weights = [MIX[k][0] for k in kinds]
            while time.monotonic() < deadline:
                self.step(self.rng.choices(kinds, weights)[0])
        except Exception as error:  # noqa: BLE001 - a client bug is reported, not hidden
            failures.append(f"client {self.number}: {error!r}")
        finally:
            self.close()


# -- counting rows and reporting ------------------------------------------------------------


def rows_found(database_url, run_id):
    """{unique text: rows} for this run's ticket titles and reply contents."""
    import sqlalchemy as sa

    from flicket.tickets.models import Post, Ticket

    prefix = f"loadtest {run_id} %"
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            found = Counter(conn.scalars(sa.select(Ticket.title).where(Ticket.title.like(prefix))))
            found.update(conn.scalars(sa.select(Post.content).where(Post.content.like(prefix))))
    finally:
        engine.dispose()
    return found


def report(stats, elapsed, logins, found, args, database_kind):
    kinds = list(ONCE) + list(MIX)
    total = sum(sum(stats.statuses[k].values()) for k in MIX)
    print()
    print(
        f"Flicket load test: {database_kind}, {args.clients} clients, {args.duration:g} s "
        f"(measured {elapsed:.1f} s, after {logins:.1f} s of logins), "
        f"waitress {args.threads} threads"
    )
    print("(req/s of login page, login and api token: over the login phase; bcrypt-bound)")
    print(
        f"{'kind':12} {'requests':>8} {'req/s':>7} {'median ms':>9} {'p99 ms':>7} "
        f"{'max ms':>7}  statuses"
    )
    summary = {
        "database": database_kind,
        "clients": args.clients,
        "duration": args.duration,
        "measured_seconds": round(elapsed, 2),
        "login_seconds": round(logins, 2),
        "kinds": {},
        "writes": {},
    }
    for kind in kinds:
        count = sum(stats.statuses[kind].values())
        if not count:
            continue
        lat = stats.latencies[kind] or [0]
        summary["kinds"][kind] = {
            "requests": count,
            "statuses": {str(s): n for s, n in stats.statuses[kind].items()},
            "median_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
            "max_ms": round(max(lat) * 1000, 1),
        }
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses[kind].items(), key=str))
        span = max(logins, 0.001) if kind in ONCE else elapsed
        print(
            f"{kind:12} {count:8} {count / span:7.1f} {statistics.median(lat) * 1000:9.0f} "
            f"{percentile(lat, 0.99) * 1000:7.0f} {max(lat) * 1000:7.0f}  {statuses}"
        )
    every = [s for k in MIX for s in stats.latencies[k]] or [0]
    summary["mix"] = {
        "requests": total,
        "requests_per_second": round(total / elapsed, 1),
        "median_ms": round(statistics.median(every) * 1000, 1),
        "p99_ms": round(percentile(every, 0.99) * 1000, 1),
    }
    print(
        f"{'all (mix)':12} {total:8} {total / elapsed:7.1f} "
        f"{statistics.median(every) * 1000:9.0f} "
        f"{percentile(every, 0.99) * 1000:7.0f} {max(every) * 1000:7.0f}"
    )
    print()
    print(
        f"{'write':12} {'acknowledged':>12} {'rows found':>10} {'lost':>5} {'duplicated':>10}"
        f" {'unacknowledged rows':>20}"
    )
    problems = []
    for kind in WRITES:
        texts = stats.acknowledged[kind]
        mine = {t: n for t, n in found.items() if t.startswith(f"loadtest {args.run_id} {kind} ")}
        lost = [t for t in texts if found[t] == 0]
        duplicated = [t for t in texts if found[t] > 1]
        extra = [t for t in mine if t not in set(texts)]
        summary["writes"][kind] = {
            "acknowledged": len(texts),
            "rows_found": sum(mine.values()),
            "lost": len(lost),
            "duplicated": len(duplicated),
            "unacknowledged_rows": len(extra),
        }
        print(
            f"{kind:12} {len(texts):12} {sum(mine.values()):10} {len(lost):5} "
            f"{len(duplicated):10} {len(extra):20}"
        )
        if lost:
            problems.append(f"{len(lost)} acknowledged {kind} writes are not in the database")
        if duplicated:
            problems.append(f"{len(duplicated)} {kind} writes are stored more than once")
        if extra:
            problems.append(f"{len(extra)} {kind} rows were stored but not acknowledged")
    return problems, summary


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.run_id = uuid.uuid4().hex[:10]
    rng = random.Random(args.seed)
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="flicket-loadtest-"))
        cleanup = True
    database_url = args.database_url or f"sqlite:///{workdir / 'loadtest.sqlite'}"
    database_kind = database_url.split(":", 1)[0].split("+", 1)[0]
    port = free_port()
    ini = write_ini(workdir, port, args.threads, "loadtest")
    env = dict(os.environ)
    env.update(
        FLICKET_DATABASE_URL=database_url,
        FLICKET_SECRET=secrets.token_urlsafe(64),
        FLICKET_DATA_DIR=str(workdir / "data"),
    )
    os.environ.update(
        {k: env[k] for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR")}
    )
    process = None
    log_path = workdir / "pserve.log"
    try:
        started = time.monotonic()
        run_setup(ini, env)
        data = make_data(ini, args.clients, args.tickets, rng)
        print(
            f"set-up: {database_kind} database, {args.clients} users, {args.tickets} tickets "
            f"in {time.monotonic() - started:.1f} s; run {args.run_id}"
        )
        with open(log_path, "wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own pserve, on loopback
                [tool("pserve", "loadtest"), str(ini)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_server(port, process, log_path, "loadtest")

        stats = Stats()
        failures = []
        start = {}

        def go():  # run by the last client to log in: the timed load starts now
            start["at"] = time.monotonic()
            start["deadline"] = start["at"] + args.duration

        ready = threading.Barrier(args.clients, action=go, timeout=REQUEST_TIMEOUT * 3)
        login_started = time.monotonic()
        clients = [
            Client(
                n,
                port,
                data["usernames"][n],
                data,
                stats,
                random.Random(args.seed * 1000 + n),
                args.run_id,
            )
            for n in range(args.clients)
        ]
        threads = [
            threading.Thread(target=c.run, args=(ready, start, failures), daemon=True)
            for c in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.duration + REQUEST_TIMEOUT + 30)
        if "at" not in start:
            failures.append("the clients did not all log in")
            start["at"] = login_started
        elapsed = time.monotonic() - start["at"]
        logins = start["at"] - login_started
        if any(thread.is_alive() for thread in threads):
            failures.append("a client did not finish (a request hung)")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    found = rows_found(database_url, args.run_id)
    problems, summary = report(stats, elapsed, logins, found, args, database_kind)
    problems += failures
    bad = [
        (k, s, n)
        for k, c in stats.statuses.items()
        for s, n in c.items()
        if s not in (MIX.get(k, (0, ONCE.get(k)))[1])
    ]
    for kind, status, count in bad:
        problems.append(f"{count} x {status} for {kind}")
    for kind, status, body in stats.unexpected[:5]:
        print(f"  unexpected {kind} {status}: {body[:200]!r}")
    server_log = log_path.read_text(encoding="utf-8", errors="replace")
    # A 500 is logged with an incident id; an exhausted pool says "QueuePool limit".
    if re.search(r"incident|QueuePool limit|Exception while serving", server_log):
        problems.append(f"the server logged errors (see {log_path})")
    retried = server_log.count("database error: OperationalError")
    if retried:
        print(
            f"server log: {retried} database errors (503s, or attempts that pyramid_retry ran "
            "again: SQLite's 'database is locked')"
        )
    print()
    if args.json:
        summary["problems"] = problems
        summary["ok"] = not problems
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}")
        print(f"(files kept in {workdir})")
        return 1
    print(f"OK: no 5xx, no unexpected answer, no lost or duplicated write ({elapsed:.1f} s)")
    if cleanup:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
