"""The CRL worker processes give way to the processes that answer relying parties."""

from __future__ import annotations

import os

from revocd.daemon import CRL_WORKER_NICENESS, process_pool


def test_crl_workers_run_at_a_lower_priority_than_the_daemon():
    pool = process_pool()
    try:
        worker_niceness = pool.submit(os.nice, 0).result(timeout=60)
    finally:
        pool.shutdown()
    assert worker_niceness == min(19, os.nice(0) + CRL_WORKER_NICENESS)
