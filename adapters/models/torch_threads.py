"""torch's CPU threads for one fit or prediction: the small models here run faster on few threads.

torch's thread count is process-wide; these helpers set it for a block and restore it after.
"""
from __future__ import annotations

import os
from contextlib import contextmanager


def available_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (containers).

    torch counts the machine's cores, which in a container limited to 2 CPUs can be dozens of
    threads fighting over 2 CPUs.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as file:
            quota, period = file.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to honour
    return max(1, cpus)


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch using `threads` CPU threads (None: `available_cpus()`), then restore.

    torch's thread count is process-wide: a prediction in another thread meanwhile runs with it too.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads or min(previous, available_cpus()))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
