"""DEPLOYMENT.rst is written so that ``tests/deployment/guide.py`` (a step of ``.ci/run``,
run as root) can follow every block of it; these checks need no root and no server, and
fail as soon as the guide grows a block the runner would not run or a name that is wrong."""

import re
import shlex
from configparser import ConfigParser

import flicket.settings
from tests.deployment.guide import DATABASES, GUIDE, PATHS, blocks, unclaimed_blocks
from tests.serving import ROOT

TEXT = GUIDE.read_text(encoding="utf-8")
KINDS = {"settings", "shell", "file", "service"}


def test_every_code_block_of_the_guide_is_marked_for_the_runner():
    assert unclaimed_blocks(TEXT) == []
    found = blocks(TEXT)
    assert len(found) == TEXT.count(".. code-block::")
    assert {b.kind for b in found} <= KINDS
    assert [b.kind for b in found].count("settings") == 1
    assert {b.database for b in found} <= {"", *DATABASES}
    # Each database has its own set-up, backup and restore.
    for database in DATABASES:
        assert sum(1 for b in found if b.database == database) >= 3, database


def test_files_and_commands_use_only_paths_the_runner_moves():
    for block in blocks(TEXT):
        if block.kind == "file":
            assert block.target.startswith(PATHS), block.target
        for path in re.findall(r"(?<![\w.$])(/(?:etc|opt|var)/[\w./@-]+)", block.text):
            allowed = path.startswith(PATHS) or path in ("/etc/nginx/mime.types",)
            assert allowed, f"DEPLOYMENT.rst:{block.line}: {path} would touch this machine"


def test_systemctl_is_only_in_service_blocks_and_only_what_the_runner_does():
    for block in blocks(TEXT):
        for line in block.text.splitlines():
            if block.kind != "service":
                assert not line.strip().startswith("systemctl"), block.line
                continue
            words = shlex.split(line)
            if words[0] == "systemctl":
                assert words[1] in {
                    "daemon-reload",
                    "enable",
                    "start",
                    "stop",
                    "restart",
                    "reload",
                }, line
            else:
                assert line in ("nginx -t",) or words[0] == "ln", line


def test_the_units_run_the_installed_console_scripts():
    setup_py = (ROOT / "setup.py").read_text(encoding="utf-8")
    units = [b for b in blocks(TEXT) if b.kind == "file" and b.target.endswith(".service")]
    assert {u.target for u in units} == {
        "/etc/systemd/system/flicket@.service",
        "/etc/systemd/system/flicket-mail-queue.service",
    }
    for unit in units:
        parser = ConfigParser(interpolation=None)
        parser.read_string(unit.text)
        command = shlex.split(parser["Service"]["ExecStart"])
        script = command[0].removeprefix("/opt/flicket/bin/")
        assert script == "pserve" or f'"{script} = ' in setup_py, script
        assert command[1] == "/etc/flicket/production.ini"
        assert parser["Service"]["EnvironmentFile"] == "/etc/flicket/environment"
        assert parser["Service"]["User"] == "flicket"


def test_the_guide_names_every_environment_variable_and_the_health_check():
    variables = [
        value for name, value in vars(flicket.settings).items() if name.startswith("ENV_")
    ]
    assert len(variables) >= 6
    for variable in variables:
        assert variable in TEXT, variable
    assert "/healthz" in TEXT


def test_the_nginx_body_limit_is_the_one_of_production_ini():
    ini = ConfigParser(interpolation=None)
    ini.read(ROOT / "production.ini")
    waitress_limit = int(ini["server:main"]["max_request_body_size"])
    nginx = next(b.text for b in blocks(TEXT) if b.target == "/etc/nginx/sites-available/flicket")
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", nginx).group(1))
    assert megabytes * 1024 * 1024 == waitress_limit
