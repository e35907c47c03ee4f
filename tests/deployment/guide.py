#!/usr/bin/env python3
"""Follow DEPLOYMENT.rst, every block of it, in a scratch folder, and check the result.

    python tests/deployment/guide.py --wheel dist/flicket-*.whl \\
        --mysql-url mysql+pymysql://root@127.0.0.1:3306/flicket_ci_guide \\
        --postgresql-url postgresql+psycopg://postgres@127.0.0.1:5432/flicket_ci_guide

Run as root (it runs the guide's commands: ``apt-get install`` of what is missing, a
``flicket`` system user if there is none). For each database of ``--databases``
(``mariadb,postgresql,sqlite``) it takes the guide's blocks in order:

- ``settings``: the site's shell variables, with the database name and user taken from
  the URL given here (the database is dropped first and afterwards; nothing else is);
- ``shell [database]``: run with bash (``set -euo pipefail``) after the settings, in a
  "release" folder holding the wheel and ``production.ini``;
- ``file PATH [database]``: written to PATH (systemd units are checked with
  ``systemd-analyze verify``);
- ``service``: ``systemctl`` lines are done the way systemd would do them without a
  running systemd: ``enable`` in the scratch root (``systemctl --root``), and
  start/stop/restart by running each unit's ``ExecStart`` as its ``User`` with its
  ``Environment``/``EnvironmentFile``/``WorkingDirectory``; ``nginx -t`` and ``reload
  nginx`` use a scratch nginx.conf that includes the guide's site;
- the cron file's lines are run at the end, as their user.

Paths of the guide are moved under the scratch folder and its ports to free loopback
ports (see ``PATHS`` and ``Sandbox.map``). Between the blocks it checks what the guide
promises: a login through nginx (the application sees HTTPS, the host and the client's
address), static files served by nginx, the 50 MiB body limit, and that a restore brings
back a ticket and its attachment made before the backup and not one made after.
Exit status 0 when everything held; it prints what it did.
"""

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.serving import forms_of, multipart, stop_process  # noqa: E402

GUIDE = ROOT / "DEPLOYMENT.rst"
DATABASES = ("mariadb", "postgresql", "sqlite")
#: The guide's absolute paths that are moved under the scratch folder.
PATHS = (
    "/opt/flicket",
    "/etc/flicket",
    "/var/lib/flicket",
    "/var/backups/flicket",
    "/etc/nginx/sites-available",
    "/etc/nginx/sites-enabled",
    "/etc/nginx/snippets",
    "/etc/systemd/system",
    "/etc/cron.d",
    "/etc/ssl/flicket",
)
SITE = "desk.example.com"
CLIENT_ADDRESS = "127.0.0.2"  # a second loopback address: "the client" nginx sees
GENERATED_RE = re.compile(r"generated password[^:]*: (\S+)")
UPLOAD_RE = re.compile(r'href="(/flicket_uploads/[0-9a-f]{32}\.txt)"')


# -- the guide's blocks ---------------------------------------------------------------------


@dataclass
class Block:
    kind: str  # settings, shell, file, service
    line: int
    text: str
    target: str = ""  # the file of a ``file`` block
    database: str = ""  # only for this database ("" for all)


BLOCK_RE = re.compile(
    r"^\.\. guide: (?P<kind>\w+)(?P<args>[^\n]*)\n\n\.\. code-block:: \w+\n\n"
    r"(?P<body>(?:(?: {4}[^\n]*)?\n)+)",
    re.M,
)


def blocks(text=None):
    """Every ``.. guide:`` block of DEPLOYMENT.rst, in order."""
    text = GUIDE.read_text(encoding="utf-8") if text is None else text
    found = []
    for match in BLOCK_RE.finditer(text):
        args = match["args"].split()
        body = "\n".join(line[4:] for line in match["body"].rstrip("\n").split("\n")) + "\n"
        block = Block(match["kind"], text[: match.start()].count("\n") + 1, body)
        if block.kind == "file":
            block.target = args.pop(0)
        block.database = args[0] if args else ""
        found.append(block)
    return found


def unclaimed_blocks(text):
    """Code blocks of the guide without a ``.. guide:`` mark (none may be left out)."""
    marked = {m.start() for m in BLOCK_RE.finditer(text)}
    starts = [m.start() for m in re.finditer(r"^\.\. code-block::", text, re.M)]
    return [
        text[:start].count("\n") + 1
        for start in starts
        if not any(0 < start - mark < 200 for mark in marked)
    ]


# -- the scratch machine --------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Unit:
    name: str
    process: subprocess.Popen | None = None
    log: object = None


@dataclass
class Sandbox:
    root: Path
    database: str
    db_name: str
    db_user: str
    ports: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    nginx: subprocess.Popen | None = None

    def __post_init__(self):
        for name in ("https", "http", "a", "b"):
            self.ports[name] = free_port()

    def map(self, text):
        """The guide's text as it runs here: paths under the scratch root, free ports."""
        for path in PATHS:
            text = text.replace(path, f"{self.root}{path}")
        text = text.replace("6543", str(self.ports["a"])).replace("6544", str(self.ports["b"]))
        text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{self.ports['https']} ssl;")
        text = text.replace("listen 80;", f"listen 127.0.0.1:{self.ports['http']};")
        # curl --resolve SITE:443:127.0.0.1 https://SITE/: the same URL (and Host), another
        # port to connect to.
        text = re.sub(
            r"--resolve (\S+):443:127\.0\.0\.1",
            rf"--connect-to \1:443:127.0.0.1:{self.ports['https']}",
            text,
        )
        return re.sub(
            r"--resolve (\S+):80:127\.0\.0\.1",
            rf"--connect-to \1:80:127.0.0.1:{self.ports['http']}",
            text,
        )

    def path(self, guide_path):
        return Path(self.map(guide_path))

    @property
    def release(self):
        return self.root / "release"

    # -- running ----------------------------------------------------------------------------

    def settings(self, guide_blocks):
        text = self.map(next(b.text for b in guide_blocks if b.kind == "settings"))
        text = re.sub(r"(?m)^DB_NAME=.*$", f"DB_NAME={self.db_name}", text)
        return re.sub(r"(?m)^DB_USER=.*$", f"DB_USER={self.db_user}", text)

    def shell(self, script, what):
        print(f"    $ {what}")
        result = subprocess.run(  # noqa: S603 - the guide's own commands
            ["bash", "-c", "set -euo pipefail -x\n" + script],  # -x: the failing line is shown
            cwd=self.release,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(
                f"FAILED ({what}): exit {result.returncode}\n--- script\n{script}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def write(self, block):
        path = self.path(block.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.map(block.text), encoding="utf-8")
        if path.suffix == ".service":
            self.verify_unit(path)
        print(f"    wrote {block.target} ({len(block.text.splitlines())} lines)")

    def verify_unit(self, path):
        instance = path.name.replace("@.service", f"@{self.ports['a']}.service")
        checked = path.parent / instance
        if checked != path:
            shutil.copy(path, checked)
        result = subprocess.run(  # noqa: S603, S607
            ["systemd-analyze", "verify", str(checked)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked != path:
            checked.unlink()
        problems = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if str(path.parent) in line and "non-existent unit" not in line
        ]
        if result.returncode != 0 or problems:
            raise SystemExit(
                f"FAILED: systemd-analyze verify {path.name}:\n" + "\n".join(problems)
            )

    # -- systemd, done by hand ----------------------------------------------------------------

    def unit_file(self, name):
        template = re.sub(r"@[^.]+\.service$", "@.service", name)
        path = self.path("/etc/systemd/system") / template
        instance = name.split("@", 1)[1].rsplit(".", 1)[0] if "@" in name else ""
        return path, instance

    def unit_settings(self, name):
        path, instance = self.unit_file(name)
        service = {"Environment": [], "EnvironmentFile": []}
        section = None
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip().replace("%i", instance)
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                if key in service and isinstance(service[key], list):
                    service[key].append(value)
                else:
                    service[key] = value
        return service

    def start(self, name):
        service = self.unit_settings(name)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        for file_name in service["EnvironmentFile"]:
            for line in Path(file_name.lstrip("-")).read_text(encoding="utf-8").splitlines():
                if "=" in line and not line.startswith("#"):
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip()
        for assignment in service["Environment"]:
            key, value = assignment.split("=", 1)
            env[key] = value
        argv = shlex.split(service["ExecStart"])
        user = service.get("User", "root")
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(  # noqa: S603 - the unit's own command
            ["runuser", "-u", user, "--", *argv],
            env=env,
            cwd=service.get("WorkingDirectory", "/"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.units[name] = Unit(name, process, log)
        listen = env.get("FLICKET_LISTEN")
        if listen:
            port = int(listen.rsplit(":", 1)[1])
            self.wait_healthy(name, port)
        else:
            time.sleep(1)
            if process.poll() is not None:
                raise SystemExit(f"FAILED: {name} exited:\n{self.unit_log(name)}")
        print(f"    started {name} as {user}: {' '.join(argv)}")

    def wait_healthy(self, name, port, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.units[name].process.poll() is not None:
                raise SystemExit(f"FAILED: {name} exited:\n{self.unit_log(name)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"FAILED: {name} never became healthy:\n{self.unit_log(name)}")

    def unit_log(self, name):
        return (self.root / f"{name}.log").read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self, name):
        unit = self.units.pop(name, None)
        if unit is None:
            return
        stop_process(unit.process)  # runuser passes SIGTERM on (KillSignal=SIGTERM)
        unit.log.close()
        print(f"    stopped {name}")

    def systemctl(self, line):
        words = shlex.split(line)[1:]
        action, names = words[0], [w for w in words[1:] if not w.startswith("-")]
        if action == "daemon-reload":
            for path in sorted(self.path("/etc/systemd/system").glob("*.service")):
                self.verify_unit(path)
            print("    daemon-reload: every unit passes systemd-analyze verify")
        elif action == "enable":
            subprocess.run(  # noqa: S603, S607
                ["systemctl", f"--root={self.root}", "enable", *names],
                check=True,
                capture_output=True,
            )
            print(f"    enabled (in the scratch root) {' '.join(names)}")
            if "--now" in words:
                for name in names:
                    self.start(name)
        elif action in ("start", "restart", "stop", "reload") and names == ["nginx"]:
            self.nginx_reload()
        elif action == "start":
            for name in names:
                self.start(name)
        elif action == "stop":
            for name in names:
                self.stop(name)
        elif action == "restart":
            for name in names:
                self.stop(name)
                if name.startswith("flicket@") and self.nginx is not None:
                    # One process down: nginx sends everything to the other one.
                    for _ in range(5):
                        response, _body = Visitor(self).request("GET", "/healthz")
                        assert response.status == 200, response.status
                    print(f"    while {name} was down: 5 of 5 requests through nginx 200")
                self.start(name)
        else:
            raise SystemExit(f"FAILED: the guide's 'systemctl {action}' is not known here")

    # -- nginx ------------------------------------------------------------------------------

    @property
    def nginx_conf(self):
        return self.root / "nginx" / "nginx.conf"

    def nginx_folders(self):
        """The folders Debian's nginx package makes (its own config stays where it is)."""
        for name in ("sites-available", "sites-enabled", "snippets"):
            self.path(f"/etc/nginx/{name}").mkdir(parents=True, exist_ok=True)

    def nginx_setup(self):
        folder = self.root / "nginx"
        folder.mkdir(exist_ok=True)
        self.nginx_conf.write_text(
            f"pid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            f"    access_log {folder}/access.log;\n"
            f"    client_body_temp_path {folder}/body;\n"
            f"    proxy_temp_path {folder}/proxy;\n"
            f"    include {self.path('/etc/nginx/sites-enabled')}/*;\n"
            "}\n",
            encoding="utf-8",
        )

    def nginx_command(self, line):
        if line.strip() == "nginx -t":
            self.nginx_setup()
            subprocess.run(  # noqa: S603, S607
                ["nginx", "-t", "-c", str(self.nginx_conf)], check=True, capture_output=True
            )
            print("    nginx -t: the configuration is valid")
        else:
            raise SystemExit(f"FAILED: unknown nginx line {line!r}")

    def nginx_reload(self):
        if self.nginx is None or self.nginx.poll() is not None:
            self.nginx = subprocess.Popen(  # noqa: S603, S607
                ["nginx", "-c", str(self.nginx_conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.ports["https"]), 1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            print(f"    nginx started on 127.0.0.1:{self.ports['https']} (https)")
        else:
            self.nginx.send_signal(signal.SIGHUP)
            print("    nginx reloaded")

    def service(self, block):
        for line in block.text.splitlines():
            line = self.map(line.strip())
            if not line or line.startswith("#"):
                continue
            if line.startswith("systemctl "):
                self.systemctl(line)
            elif line.startswith("nginx "):
                self.nginx_command(line)
            else:
                self.shell(line, line)

    def stop_everything(self):
        for name in list(self.units):
            self.stop(name)
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=20)

    # -- cron -------------------------------------------------------------------------------

    def run_cron(self):
        path = self.path("/etc/cron.d/flicket")
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(None, 6)
            assert len(fields) == 7, f"not a cron.d line: {line!r}"
            for spec in fields[:5]:
                assert re.fullmatch(r"[\d*,/-]+", spec), f"bad cron field {spec!r}"
            user, command = fields[5], fields[6]
            wrapped = ["runuser", "-u", user, "--", "/bin/sh", "-c", command]
            result = subprocess.run(  # noqa: S603 - the guide's cron line
                wrapped if user != "root" else ["/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
                cwd="/",
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            )
            if result.returncode != 0:
                raise SystemExit(f"FAILED: cron line {line!r}:\n{result.stdout}{result.stderr}")
            print(f"    cron ({user}): {command[:90]}... exit 0")


# -- the visitor, through nginx -------------------------------------------------------------


class Visitor:
    """A browser reaching the site through nginx over HTTPS from CLIENT_ADDRESS."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.cookies = {}
        self.context = ssl.create_default_context(
            cafile=str(sandbox.path(f"/etc/ssl/flicket/{SITE}.crt"))
        )

    def connect(self):
        """A TLS connection to nginx from CLIENT_ADDRESS, checked against the site's name."""
        sock = socket.create_connection(
            ("127.0.0.1", self.sandbox.ports["https"]), 60, (CLIENT_ADDRESS, 0)
        )
        conn = http.client.HTTPConnection("127.0.0.1", self.sandbox.ports["https"], timeout=60)
        conn.sock = self.context.wrap_socket(sock, server_hostname=SITE)
        return conn

    def request(self, method, path, body=None, content_type=None, headers=None):
        sent = {"Host": SITE, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            sent["Content-Type"] = content_type
            sent["Origin"] = f"https://{SITE}"
        conn = self.connect()
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response, data

    def announce_body(self, path, size):
        """Send only the headers of a ``size``-byte POST: nginx answers before the body."""
        conn = self.connect()
        conn.putrequest("POST", path, skip_host=True)
        for name, value in (
            ("Host", SITE),
            ("Content-Type", "text/plain"),
            ("Content-Length", str(size)),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def form(self, path):
        response, data = self.request("GET", path)
        assert response.status == 200, (path, response.status)
        return forms_of(data.decode())[path]

    def post_form(self, path, fields, files=None):
        if files:
            body, content_type = multipart(fields, files)
        else:
            from urllib.parse import urlencode

            body, content_type = urlencode(fields), "application/x-www-form-urlencoded"
        return self.request("POST", path, body=body, content_type=content_type)


def check_the_site(sandbox, admin_password):
    """What the guide promises of nginx and the processes behind it."""
    visitor = Visitor(sandbox)
    fields = visitor.form("/login")
    fields.update(username="admin", password=admin_password)
    response, body = visitor.post_form("/login", fields)
    assert response.status == 302, (response.status, body[:500])
    set_cookie = response.headers.get("Set-Cookie", "")
    assert "secure" in set_cookie.lower(), set_cookie
    assert response.headers["Location"].startswith(f"https://{SITE}/"), response.headers
    response, body = visitor.request("GET", "/")
    assert response.status == 200 and b'name="password"' not in body
    assert response.headers.get("Strict-Transport-Security")
    request_id = response.headers["X-Request-ID"]
    print(f"    login through nginx as admin: 302 to https://{SITE}/, Secure cookie, HSTS")

    # The application saw the client's address, not nginx's, and nginx's request id.
    time.sleep(0.5)
    logs = "".join(
        (sandbox.root / f"{n}.log").read_text(encoding="utf-8", errors="replace")
        for n in list(sandbox.units)
        if n.startswith("flicket@")
    )
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    mine = [e for e in entries if e.get("request_id") == request_id and "http_path" in e]
    assert mine and mine[0]["client"] == CLIENT_ADDRESS, mine
    print(f"    the application logged client {CLIENT_ADDRESS} and nginx's request id")

    response, _ = visitor.request("GET", "/flicket/static/css/flicket.css")
    assert response.status == 200 and "X-Request-ID" not in response.headers
    assert "max-age=3600" in response.headers.get("Cache-Control", "")
    print("    static files: served by nginx itself (no X-Request-ID), cached 1 h")

    response = visitor.announce_body("/login", 51 * 1024 * 1024)
    assert response.status == 413, response.status
    print("    a 51 MiB request: 413 from nginx")
    return visitor


def make_ticket_with_upload(visitor, title, content):
    fields = visitor.form("/ticket_create/")
    fields.update(title=title, content="Made before the backup.")
    response, body = visitor.post_form(
        "/ticket_create/", fields, {"file": ("evidence.txt", content)}
    )
    assert response.status == 302, (response.status, body[:800])
    location = response.headers["Location"]
    return "/" + location.split("/", 3)[3]


def ticket_page(visitor, path):
    response, body = visitor.request("GET", path)
    return response.status, body.decode("utf-8", "replace")


# -- one database ---------------------------------------------------------------------------


def drop_database(database, name, user):
    if database == "mariadb":
        subprocess.run(  # noqa: S603, S607
            [
                "mariadb",
                "-e",
                f"DROP DATABASE IF EXISTS {name}; DROP USER IF EXISTS "
                f"'{user}'@'localhost'; DROP USER IF EXISTS '{user}'@'127.0.0.1'",
            ],
            check=True,
        )
    elif database == "postgresql":
        subprocess.run(  # noqa: S603, S607
            ["runuser", "-u", "postgres", "--", "dropdb", "--if-exists", "--force", name],
            check=True,
        )
        subprocess.run(  # noqa: S603, S607
            ["runuser", "-u", "postgres", "--", "psql", "-qc", f"DROP ROLE IF EXISTS {user}"],
            check=True,
        )


def follow(database, db_name, root, wheel):
    guide_blocks = blocks()
    sandbox = Sandbox(root / database, database, db_name, db_name)
    sandbox.root.mkdir(parents=True)
    # As /opt or /etc: the flicket user and nginx's workers must be able to go through.
    os.chmod(root, 0o755)  # noqa: S103
    os.chmod(sandbox.root, 0o755)  # noqa: S103
    sandbox.release.mkdir()
    sandbox.nginx_folders()
    shutil.copy(wheel, sandbox.release)
    shutil.copy(ROOT / "production.ini", sandbox.release)
    drop_database(database, db_name, db_name)
    settings = sandbox.settings(guide_blocks)
    admin_password = None
    visitor = None
    restored_path = None
    try:
        for block in guide_blocks:
            if block.database and block.database != database:
                continue
            where = f"DEPLOYMENT.rst:{block.line}"
            if block.kind == "settings":
                continue
            if block.kind == "file":
                sandbox.write(block)
            elif block.kind == "service":
                sandbox.service(block)
            elif block.kind == "shell":
                script = settings + sandbox.map(block.text)
                if "DATABASE_URL=" in block.text and block.database:
                    script += "\ndeclare -p DATABASE_URL > ../database-url\n"
                if "$DATABASE_URL" in block.text:
                    script = f". {sandbox.root}/database-url\n" + script
                sandbox.shell(script, where)
            else:
                raise SystemExit(f"FAILED: unknown block kind {block.kind!r} at {where}")

            # What the guide promises at this point.
            if block.kind == "shell" and "first-admin.txt" in block.text:
                text = sandbox.path("/etc/flicket/first-admin.txt").read_text()
                admin_password = GENERATED_RE.search(text).group(1)
            if block.kind == "service" and "reload nginx" in block.text:
                visitor = check_the_site(sandbox, admin_password)
                kept = make_ticket_with_upload(visitor, "Kept by the backup", b"kept " * 1000)
            if block.kind == "shell" and "/etc/flicket/backup\n" in block.text:
                lost = make_ticket_with_upload(visitor, "Made after the backup", b"lost")
            if block.kind == "service" and "systemctl start" in block.text:
                restored_path = kept
                status, page = ticket_page(visitor, kept)
                assert status == 200 and "Kept by the backup" in page, status
                link = UPLOAD_RE.search(page).group(1)
                response, data = visitor.request("GET", link)
                assert response.status == 200 and data == b"kept " * 1000
                status, _ = ticket_page(visitor, lost)
                assert status == 404, status
                print(
                    "    restored: the ticket and its attachment from before the backup are "
                    "back, the ticket made after it is gone"
                )
        assert restored_path, "the guide's restore was not followed"
        sandbox.run_cron()
    finally:
        sandbox.stop_everything()
        drop_database(database, db_name, db_name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", required=True, help="the flicket wheel to install")
    parser.add_argument("--db-name", default="flicket_guide", help="database and user name")
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--workdir", default=None, help="keep the scratch folder here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run it as root: it follows a guide written for root")
    text = GUIDE.read_text(encoding="utf-8")
    missing = unclaimed_blocks(text)
    if missing:
        raise SystemExit(f"FAILED: DEPLOYMENT.rst blocks without a guide mark, lines {missing}")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="flicket-guide-")).resolve()
    closed = [str(folder) for folder in root.parents if not os.stat(folder).st_mode & 0o001]
    if closed:
        raise SystemExit(
            f"FAILED: the flicket user and nginx could not reach {root}: "
            f"{', '.join(closed)} cannot be gone through by others (chmod o+x)"
        )
    try:
        for database in args.databases.split(","):
            print(f"-- DEPLOYMENT.rst with {database}")
            follow(database, args.db_name, root, Path(args.wheel).resolve())
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"DEPLOYMENT.rst: every block followed with {args.databases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
