"""The browser suite: Debian's Chromium, driven by Playwright, against a real ``pserve``.

Selected by ``FLICKET_TEST_BROWSER`` (``1``, or the path of a Chromium binary; default
``/usr/bin/chromium``), as the MariaDB/PostgreSQL tests are by their URLs; ``.ci/run`` sets
it. Without it these tests are skipped; with it, a missing Chromium or axe-core is an error,
never a skip. axe-core comes from the npm registry (``npm ci --prefix tests/browser``) and
is injected into pages by the tests only; it is never shipped to users.

The session starts one server: its own ini file, SQLite database, data and mail folders in a
temporary directory, ``flicket-setup`` and ``flicket-populate`` for realistic data, the
named people below, then ``pserve`` on a free loopback port. Every test gets a fresh
browser context (its own cookies). The server log must end the session without a traceback.

Screenshots go to ``FLICKET_SCREENSHOTS`` (default ``var/screenshots`` in the checkout);
README's pictures are a few of them, copied to ``docs/screenshots``.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.browser.support import (
    ADMIN_PASSWORD,
    DESKTOP,
    EXTRA_GROUP,
    PASSWORD,
    PEOPLE,
    ROOT,
    SCREENSHOTS,
)

BROWSER_ENV = "FLICKET_TEST_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(config, items):
    if os.environ.get(BROWSER_ENV):
        return
    skip = pytest.mark.skip(reason=f"browser tests need {BROWSER_ENV}=1 (see README)")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


def chromium_path():
    value = os.environ.get(BROWSER_ENV, "")
    path = value if value not in ("", "1", "true", "yes") else DEFAULT_CHROMIUM
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{BROWSER_ENV} is set but there is no Chromium at {path} (apt-get install chromium)"
        )
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


INI = """\
[app:main]
use = egg:flicket
pyramid.reload_templates = false
pyramid.default_locale_name = en
sqlalchemy.url = sqlite:///{site}/flicket.sqlite
flicket.secret_file = {site}/secret
flicket.data_dir = {site}/var
flicket.mail.mode = file
flicket.mail.directory = {site}/mail
flicket.ratelimit.store = memory
flicket.bcrypt_rounds = 4
retry.attempts = 3

[alembic]
script_location = flicket:migrations

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = 4

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


@dataclass
class LiveServer:
    url: str
    site: Path
    ini: Path
    log: Path

    @property
    def mail_dir(self):
        return self.site / "mail"

    def engine(self):
        return sa.create_engine(f"sqlite:///{self.site}/flicket.sqlite")


def _run(*args):
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _add_people(ini):
    """The named people of the journeys, through the application's own models."""
    from flicket.accounts.models import Group, User
    from flicket.accounts.passwords import hash_password
    from flicket.admin.models import Config

    url = re.search(r"^sqlalchemy\.url = (.*)$", ini.read_text(), re.M).group(1)
    engine = sa.create_engine(url)
    with sa.orm.Session(engine) as db, db.begin():
        for username, (name, groups, locale, job) in PEOPLE.items():
            user = User(
                username=username,
                name=name,
                email=f"{username}@example.com",
                job_title=job,
                password=hash_password(PASSWORD, 4),
                locale=locale,
                disabled=False,
                total_posts=0,
                total_assigned=0,
            )
            for group_name in groups:
                user.groups.append(
                    db.scalars(sa.select(Group).filter_by(group_name=group_name)).one()
                )
            db.add(user)
        db.add(Group(group_name=EXTRA_GROUP))
        # People may move their tickets to another department/category (a Config option).
        db.execute(sa.update(Config).values(change_category=True))
    engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    site = tmp_path_factory.mktemp("browser-site")
    port = free_port()
    ini = site / "browser.ini"
    ini.write_text(INI.format(site=site, port=port))
    _run(
        BIN / "flicket-setup",
        ini,
        "--no-input",
        "--admin-email",
        "admin@example.com",
        "--admin-password",
        ADMIN_PASSWORD,
        "--base-url",
        f"http://127.0.0.1:{port}",
    )
    _add_people(ini)
    _run(
        BIN / "flicket-populate",
        ini,
        "--tickets",
        "60",
        "--users",
        "8",
        "--days",
        "30",
        "--seed",
        "9",
        "--password",
        PASSWORD,
        "--no-progress",
    )
    log = site / "pserve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLICKET_")}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(BIN / "pserve"), str(ini)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/login", timeout=5) as response:  # noqa: S310 (our own http://127.0.0.1)
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"pserve did not start:\n{log.read_text()}")
        time.sleep(0.2)
    yield LiveServer(url=url, site=site, ini=ini, log=log)
    process.terminate()
    process.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text, f"the server logged an error:\n{text}"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source():
    if not AXE_SCRIPT.exists():
        pytest.fail(f"axe-core is missing: run `npm ci --prefix {AXE_SCRIPT.parents[2]}`")
    return AXE_SCRIPT.read_text()


class Browsing:
    """Opens browser contexts on the live server and keeps what their pages complain about
    (JavaScript errors, CSP refusals), which a test ends by checking."""

    def __init__(self, browser, server, axe_source):
        self.browser = browser
        self.server = server
        self.axe_source = axe_source
        self.contexts = []
        self.problems = []

    def new_page(self, *, viewport=DESKTOP, locale="en-GB", storage_state=None):
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=viewport,
            locale=locale,
            accept_downloads=True,
            storage_state=storage_state,
        )
        context.set_default_timeout(15000)
        # axe-core for the accessibility checks, added by the browser (not subject to the
        # page's CSP, and never part of what the application serves).
        context.add_init_script(script=self.axe_source)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not message.text.startswith("Failed to load resource")
                and self.problems.append(f"{page.url}: {message.text}")
            ),
        )
        return page

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture
def browsing(request, browser, live_server, axe_source):
    session = Browsing(browser, live_server, axe_source)
    yield session
    if getattr(request.node, "browser_test_failed", False):
        # What the pages showed when the test failed, to see why.
        failures = SCREENSHOTS / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        for number, context in enumerate(session.contexts):
            for index, page in enumerate(context.pages):
                name = f"{request.node.name}-{number}-{index}.png".replace("/", "_")
                page.screenshot(path=str(failures / name), full_page=True)
    session.close()
    assert not session.problems, "the pages reported errors:\n" + "\n".join(session.problems)


@pytest.fixture
def page(browsing):
    return browsing.new_page()


@pytest.fixture(scope="session")
def ids(live_server):
    """Ids of rows the page tests visit: an open ticket with replies, a department, the
    agent Agnes and the site's own group."""
    engine = live_server.engine()
    with engine.connect() as conn:
        found = {
            "open_ticket": conn.scalar(
                sa.text(
                    "SELECT t.id FROM flicket_topic t JOIN flicket_status s ON s.id = t.status_id"
                    " WHERE s.status != 'Closed' AND t.assigned_id IS NOT NULL"
                    " AND (SELECT count(*) FROM flicket_post p WHERE p.ticket_id = t.id) >= 3"
                    " ORDER BY t.id LIMIT 1"
                )
            ),
            "department": conn.scalar(sa.text("SELECT min(id) FROM flicket_department")),
            "agent": conn.scalar(sa.text("SELECT id FROM flicket_users WHERE username = 'agnes'")),
            "group": conn.scalar(
                sa.text("SELECT id FROM flicket_group WHERE group_name = :name"),
                {"name": EXTRA_GROUP},
            ),
        }
    engine.dispose()
    assert all(found.values()), found
    return found


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues():
    from flicket.catalogues import compile_catalogues

    compile_catalogues(str(ROOT / "flicket" / "locale"))
