"""The fault-injection suite's short profile (issue 13): `elms up` under load while each kind of
fault is injected once (SIGKILL of every service and the gateway, SIGSTOP/SIGCONT of a service,
PostgreSQL stopped immediately); no 500, no payment lost or applied twice, the books balance,
and every fault heals within the circuit breaker's wait and ten seconds."""

from __future__ import annotations

import json
import subprocess
import sys

HEAL_MARGIN_SECONDS = 10


def test_the_short_chaos_profile_loses_nothing_and_heals():
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--profile", "short", "--json"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    summary = {k: result[k] for k in ("violations", "serverErrors", "unanswered", "faults")}
    assert run.returncode == 0, summary
    assert result["violations"] == []
    assert result["serverErrors"] == []
    assert result["unanswered"] == []
    assert result["lost"] == [] and result["duplicated"] == [] and result["wrongAmount"] == []
    assert result["appliedNotCompleted"] == []
    assert result["reconcile"]["balanced"], result["reconcile"]["output"]
    assert result["drain"]["drained"], result["drain"]
    assert result["answered201"] > 0
    kinds = {fault["fault"].split()[0] for fault in result["faults"]}
    assert kinds == {"SIGKILL", "SIGSTOP", "SIGQUIT"}
    bound = result["breakerOpenSeconds"] + HEAL_MARGIN_SECONDS
    for fault in result["faults"]:
        assert fault["recoverySeconds"] is not None, fault
        assert fault["recoverySeconds"] <= bound, fault
