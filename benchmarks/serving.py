"""What the load test (``loadtest.py``) and the benchmark (``benchmark.py``) share: a free
loopback port, the console scripts of this environment, ``production.ini`` rewritten for
a run, and percentiles. Both scripts import it from their own folder."""

import http.client
import re
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Clients here write far faster than people: the per-user business limits (VAL-3) would
#: answer 429 and stop measuring the server, so the runs lift them.
LIFTED_LIMITS = "".join(
    f"flicket.limits.{name} = 100000000\n"
    for name in ("tickets_per_hour", "replies_per_minute", "uploads_per_day", "upload_mib_per_day")
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool(name, prog):
    """A console script of this Python's environment (flicket-setup, pserve...)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{prog}: {path} not found; install Flicket (pip install -e .)")
    return str(path)


def write_ini(workdir, port, threads, prog):
    """``production.ini`` in ``workdir``, listening on ``port`` with ``threads`` waitress
    threads and the business limits lifted; everything else as shipped."""
    text = (ROOT / "production.ini").read_text(encoding="utf-8")
    text = text.replace("[app:main]\n", "[app:main]\n" + LIFTED_LIMITS, 1)
    text, listen = re.subn(r"(?m)^listen = .*$", f"listen = 127.0.0.1:{port}", text)
    text, thread_lines = re.subn(r"(?m)^threads = .*$", f"threads = {threads}", text)
    if listen != 1 or thread_lines != 1:
        raise SystemExit(f"{prog}: production.ini has no single listen/threads line")
    ini = workdir / "production.ini"
    ini.write_text(text, encoding="utf-8")
    return ini


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def wait_for_server(port, process, log_path, prog, path="/login", limit=60):
    """Return once ``GET path`` on ``port`` answers 200 (as behind the HTTPS proxy)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.stderr.write(log_path.read_text(encoding="utf-8", errors="replace"))
            raise SystemExit(f"{prog}: the server on port {port} exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers={"X-Forwarded-Proto": "https"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{prog}: the server on port {port} did not answer within {limit} s")
