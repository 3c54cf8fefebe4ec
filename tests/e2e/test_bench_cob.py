"""A test-sized run of `python -m bench cob`, so the close-of-business benchmark keeps working (its
figures are measured by hand: docs/performance.md). No timing is asserted: only that the run
closed the day and its counts are those of the data it generated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_cob_benchmark_closes_the_day_with_consistent_counts(tmp_path: Path):
    ran = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "cob", "--loans", "500", "--json"),
            *("--payment-clients", "2", "--payment-loans", "4", "--payment-seconds", "2"),
            *("--pgbench-seconds", "0", "--work-dir", str(tmp_path)),
        ],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    [run] = json.loads(ran.stdout.strip().splitlines()[-1])["runs"]
    data, cob, checks = run["data"], run["cob"], run["checks"]
    # The counts of both days closed (under payments, then alone) are those of the data, and
    # the invariants the generator keeps hold after them.
    assert checks == {"problems": [], "consistent": True}
    # The 500 generated loans and the 4 made through the API, of 12 and 6 installments. About
    # one in thirty generated loans has an installment falling due on the day (never none of 500).
    assert data["activeLoans"] == 504
    assert data["installments"] == 500 * 12 + 4 * 6
    assert cob["status"] == "COMPLETED"
    assert cob["loansProcessed"] == data["candidates"] > 0
    assert cob["installmentsOverdue"] == data["fallingOverdue"] > 0
    assert run["cobAlone"]["status"] == "COMPLETED"
    assert run["cobAlone"]["date"] > cob["date"]
    assert run["payments"]["errors"] == 0
    assert run["payments"]["withoutCob"]["count"] > 0
    # Nothing left behind: the data directory is removed after the run.
    assert list(tmp_path.iterdir()) == []
