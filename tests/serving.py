"""Real servers for the production tests: ``pserve production.ini`` in a subprocess, and a
browser that talks HTTP to it as nginx would pass requests on (``X-Forwarded-Proto: https``,
the public ``Host``, the client's address in ``X-Forwarded-For``).

Used by tests/reliability/test_two_processes.py and tests/deployment/.
"""

import base64
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_HOST = "desk.example.test"
#: production.ini as it ships, but for what keeps the tests fast (bcrypt's cost).
TEST_SETTINGS = {"flicket.bcrypt_rounds": "4"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool(name):
    """A console script of the environment running the tests (pserve, flicket-setup...)."""
    return str(Path(sys.executable).parent / name)


def new_secret():
    return secrets.token_urlsafe(64)


def production_ini(directory, settings=None):
    """``production.ini`` copied into ``directory``; ``TEST_SETTINGS`` and ``settings``
    replace the app's lines of the same keys or are added to them."""
    text = (ROOT / "production.ini").read_text(encoding="utf-8")
    for key, value in {**TEST_SETTINGS, **(settings or {})}.items():
        line = f"{key} = {value}"
        text, found = re.subn(rf"(?m)^{re.escape(key)} = .*$", line, text)
        if not found:
            text = text.replace("[app:main]\n", f"[app:main]\n{line}\n", 1)
    path = Path(directory) / "production.ini"
    path.write_text(text, encoding="utf-8")
    return path


def clean_environment(**variables):
    """The test process's environment without any FLICKET_* of its own, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLICKET_")}
    env.update({k: str(v) for k, v in variables.items()})
    return env


class Server:
    """``pserve <ini>`` listening on ``port`` (through FLICKET_LISTEN), its log in a file."""

    def __init__(self, ini, env, port, log_path):
        self.ini, self.port, self.log_path = ini, port, Path(log_path)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own pserve
            [tool("pserve"), str(ini)],
            env={**env, "FLICKET_LISTEN": f"127.0.0.1:{port}"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=Path(ini).parent,
        )
        self.wait_until_healthy()

    def wait_until_healthy(self, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pserve exited {self.process.returncode}:\n{self.log()}")
            try:
                status, _, _ = raw_request(self.port, "GET", "/healthz", timeout=5)
            except OSError:
                status = None
            if status == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"pserve on {self.port} never became healthy:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_entries(self):
        """The JSON log lines (production.ini's format); pserve's own greeting is not one."""
        entries = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def stop(self):
        stop_process(self.process)
        self._log.close()


def stop_process(process, timeout=20):
    """SIGTERM (a clean stop, as systemd does), then SIGKILL after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def raw_request(port, method, path, body=None, headers=None, timeout=60):
    """(status, headers, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def location(self):
        return self.headers.get("Location", "")


class FormReader(HTMLParser):
    """The fields of every form of a page, as a browser would send them unchanged:
    {action: {name: value}} (checked boxes only, selected options, textareas)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = {}
        self._fields = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._fields = self.forms.setdefault(attrs.get("action", ""), {})
        elif self._fields is None:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind in ("submit", "file", "button"):
                return
            self._fields[attrs["name"]] = attrs.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            if "selected" in attrs or self._select not in self._fields:
                self._fields[self._select] = attrs.get("value", "")
        elif tag == "textarea":
            self._textarea = attrs.get("name")
            self._fields[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea and self._fields is not None:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_of(html):
    reader = FormReader()
    reader.feed(html)
    return reader.forms


def multipart(fields, files):
    """(body, content type) of a multipart/form-data request; ``files``: {name: (filename,
    bytes)}."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Browser:
    """One person's browser: a cookie jar that any of the site's processes may be sent,
    requests made as the HTTPS reverse proxy passes them on, from ``address``."""

    def __init__(self, address="198.51.100.10"):
        self.address = address
        self.cookies = {}

    def request(
        self, port, method, path, *, form=None, body=None, content_type=None, headers=None
    ):
        sent = {
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": self.address,
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            **(headers or {}),
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body, content_type = urlencode(form), "application/x-www-form-urlencoded"
        if content_type:
            sent["Content-Type"] = content_type
            sent["Origin"] = f"https://{PUBLIC_HOST}"
        status, response_headers, data = raw_request(port, method, path, body, sent)
        for header in response_headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return Answer(status, response_headers, data)

    def get(self, port, path, **kw):
        return self.request(port, "GET", path, **kw)

    def form(self, port, path, action=None):
        """The fields of the form posting to ``action`` (default: ``path``) on that page."""
        page = self.get(port, path)
        assert page.status == 200, (page.status, path, page.text[:300])
        forms = forms_of(page.text)
        return forms[action or path]

    def log_in(self, port, username, password, expect=302):
        fields = self.form(port, "/login")
        fields.update(username=username, password=password)
        answer = self.request(port, "POST", "/login", form=fields)
        assert answer.status == expect, (answer.status, answer.text[:500])
        return answer

    def is_logged_in(self, port):
        answer = self.get(port, "/")
        return answer.status == 200 and 'name="password"' not in answer.text


def basic_auth(username, password):
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
