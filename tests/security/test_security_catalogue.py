"""SECURITY.rst accounts for every case of the security and reliability catalogue.

Each case (AUTH-1 … REL-13) is listed with the tests that prove it, or with a written reason
when it does not apply. This test keeps that account true: every case is there, every named
test exists, and a case without tests says why.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY_RST = ROOT / "SECURITY.rst"

#: The catalogue: group -> number of cases (SECURITY-TESTS.md).
CASES = {
    "AUTH": 11,
    "SESS": 6,
    "CSRF": 6,
    "ACL": 10,
    "XSS": 8,
    "VAL": 5,
    "UP": 9,
    "API": 9,
    "ERR": 2,
    "LOG": 4,
    "HDR": 1,
    "CFG": 3,
    "META": 3,
    "REL": 13,
}
CASE_LINE = re.compile(r"^([A-Z]+-\d+) \S", re.MULTILINE)


def entries():
    """{case id: its block}: the case's line and the indented lines under it."""
    blocks, case = {}, None
    for line in SECURITY_RST.read_text(encoding="utf-8").splitlines():
        match = CASE_LINE.match(line)
        if match:
            case = match.group(1)
            assert case not in blocks, f"{case} is listed twice"
            blocks[case] = [line]
        elif case and (not line.strip() or line.startswith(" ")):
            blocks[case].append(line)
        else:
            case = None  # a heading or text between the groups
    return {case: "\n".join(lines) for case, lines in blocks.items()}


def test_every_case_is_accounted_for():
    expected = {f"{group}-{n}" for group, count in CASES.items() for n in range(1, count + 1)}
    listed = set(entries())
    assert not expected - listed, f"missing: {sorted(expected - listed)}"
    assert not listed - expected, f"unknown: {sorted(listed - expected)}"


def test_each_case_has_tests_or_a_reason():
    for case, block in entries().items():
        has_tests = ":tests:" in block
        reason = re.search(r":not applicable:\s*(\S.*)", block, re.DOTALL)
        assert has_tests or (reason and len(reason.group(1).split()) >= 8), case


def _test_functions(path, cache={}):  # noqa: B006 - a per-process cache of parsed modules
    if path not in cache:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        cache[path] = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
        }
    return cache[path]


def test_every_named_test_exists():
    missing = []
    for case, block in entries().items():
        if ":tests:" not in block:
            continue
        listed = block.split(":tests:", 1)[1]
        listed = re.split(r"\n\s*:[a-z ]+:", listed, maxsplit=1)[0]
        for reference in listed.split():
            module, _, name = reference.partition("::")
            path = ROOT / module
            if not path.is_file() or name not in _test_functions(path):
                missing.append(f"{case}: {reference}")
    assert not missing, "\n".join(missing)
