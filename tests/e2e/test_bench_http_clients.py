"""A test-sized run of `python -m bench.http_clients`, so the comparison behind the choice of
HTTP client (docs/performance.md) can be run again; its figures are measured by hand."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_the_http_client_comparison_runs_both_clients():
    ran = subprocess.run(
        [sys.executable, "-m", "bench.http_clients", "--calls", "50", "--concurrency", "4"],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    measured = re.findall(r"^  (\S.*?)\s+(\d+) µs CPU per call\s+(\d+) calls/s$", ran.stdout, re.M)
    assert [name for name, _, _ in measured] == ["ServiceClient (aiohttp)", "httpx.AsyncClient"]
    assert all(int(rate) > 0 for _, _, rate in measured)
