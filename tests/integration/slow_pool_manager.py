"""Run ``python -m bench.run`` with loky's manager thread slowed down after each wake-up.

joblib's pool hands a call to loky's manager thread, which queues it for the workers when it next wakes.
Sleeping after each wake-up widens the moment between the two from microseconds to 0.3 s, so a test can
land a Ctrl-C there on purpose: ``python slow_pool_manager.py table2 ...`` takes ``bench.run``'s
arguments.
"""

from __future__ import annotations

import runpy
import sys
import time

from joblib.externals.loky.process_executor import _ExecutorManagerThread

DELAY_SECONDS = 0.3
wait_for_work = _ExecutorManagerThread.wait_result_broken_or_wakeup


def wait_then_dawdle(self: _ExecutorManagerThread) -> tuple:
    """loky's wait for a result or a wake-up, then a pause after a wake-up."""
    result_item, is_broken, cause = wait_for_work(self)
    if result_item is None and not is_broken:
        time.sleep(DELAY_SECONDS)
    return result_item, is_broken, cause


if __name__ == "__main__":
    _ExecutorManagerThread.wait_result_broken_or_wakeup = wait_then_dawdle
    sys.path[0] = ""  # the working directory, as for ``python -m``
    sys.argv = ["bench.run", *sys.argv[1:]]
    runpy.run_module("bench.run", run_name="__main__", alter_sys=True)
