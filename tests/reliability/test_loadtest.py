"""REL-12: the load test script (benchmarks/loadtest.py) runs, and passes, at a tiny size.

The figures come from running the script itself (README, "Load test"; .ci/run runs it on the
three databases with small bounded sizes). This keeps the script working: a real pserve with
production.ini on a fresh SQLite file, 4 clients for 3 seconds; every answer is the expected
one and every write a client saw acknowledged is in the database exactly once.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "loadtest.py"


@pytest.mark.slow
def test_load_script_small_run_has_no_error_and_loses_no_write(tmp_path, monkeypatch):
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--clients", "4", "--duration", "3", "--tickets", "10"),
            *("--workdir", str(tmp_path / "load"), "--json", str(figures)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(figures.read_text())
    assert summary["ok"] and summary["problems"] == []
    assert summary["kinds"]["login"]["statuses"] == {"302": 4}
    assert summary["mix"]["requests"] > 0
    statuses = {s for kind in summary["kinds"].values() for s in kind["statuses"]}
    assert statuses <= {"200", "201", "302"}, statuses
    writes = summary["writes"]
    assert sum(w["acknowledged"] for w in writes.values()) > 0
    for kind, counts in writes.items():
        assert counts["rows_found"] == counts["acknowledged"], (kind, counts)
        assert counts["lost"] == counts["duplicated"] == counts["unacknowledged_rows"] == 0
