"""The CRL worker processes give way to the processes that answer relying parties."""

from __future__ import annotations

import os
import re
from pathlib import Path

from revocd.daemon import (
    CRL_WORKER_GROUP_NICENESS,
    CRL_WORKER_NICENESS,
    process_pool,
)
from revocd.scheduling import SLICE_NS

AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def _scheduling() -> tuple[int, int, int, str, str]:
    autogroup, sched = Path("/proc/self/autogroup"), Path("/proc/self/sched")
    return (
        os.getpid(),
        os.getsid(0),
        os.nice(0),
        autogroup.read_text() if autogroup.exists() else "",
        sched.read_text() if sched.exists() else "",
    )


def test_crl_workers_run_at_a_lower_priority_than_the_daemon():
    pool = process_pool()
    try:
        pid, session, niceness, autogroup, sched = pool.submit(_scheduling).result(timeout=60)
    finally:
        pool.shutdown()
    assert niceness == min(19, os.nice(0) + CRL_WORKER_NICENESS)
    # short slices, where the kernel shows them (6.12 and newer have se.slice)
    slices = re.findall(r"^se\.slice\s+:\s+(\d+)$", sched, re.M)
    assert slices in ([], [str(SLICE_NS)])
    if not AUTOGROUP.exists() or AUTOGROUP.read_text().strip() != "1":
        # no autogroups: niceness is all there is, and the worker stays in our session
        assert session == os.getsid(0)
        return
    # a session (so an autogroup) of its own, at a low group priority: the daemon's
    # session keeps its whole share of the CPU while a big CRL is parsed
    assert session == pid
    assert session != os.getsid(0)
    assert autogroup.endswith(f" nice {CRL_WORKER_GROUP_NICENESS}\n")
