"""Worker processes end with their parent; the parent itself is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from methods.workers import POLL_SECONDS, call_in_worker


def test_call_in_the_parent_itself_runs_and_keeps_the_process():
    assert call_in_worker(os.getpid(), sum, [1, 2, 3]) == 6
    time.sleep(3 * POLL_SECONDS)  # a watcher that took this process for a worker would have ended it
    assert call_in_worker(os.getpid(), max, [1, 2, 3]) == 3


def test_worker_whose_parent_is_gone_exits():
    """A child that calls through ``call_in_worker`` with a parent that is not its own (as after the
    real parent died) ends itself instead of sleeping on for a minute."""
    script = textwrap.dedent(
        """
        import os, time
        from methods.workers import call_in_worker
        call_in_worker(os.getppid() + 1_000_000, int)
        time.sleep(60)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
