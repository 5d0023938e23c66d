"""Time estimates for ``--dry-run``, from throughput measured by ``bench/bench_copy.py``."""

from __future__ import annotations

from .plan import Plan

# Measured by ``bench/bench_copy.py`` (bench/results/copy.json, "copy_mb_per_s": a 2.25 GB
# project, files of 1 to 500 MiB, whole process wall time) on the shared 2-core development
# machine, emulator to emulator on loopback: 113 and 203 MB/s in two full runs (the machine
# is shared and noisy). Real networks are usually slower: the estimate is a lower bound.
COPY_MB_PER_S = 110.0
# Per object and per resource: a request or two each, which the workers run side by side.
# Measured by ``bench/bench_load.py`` (2,000 sessions, 11,000 objects, 10,000 one-file
# resources, 4 workers): 94 s on the idle machine (144 s loaded), against 80 s estimated.
SECONDS_PER_OBJECT = 0.01
SECONDS_PER_RESOURCE = 0.02


def estimate_seconds(plan: Plan, workers: int) -> float:
    overhead = (len(plan.objects) * SECONDS_PER_OBJECT
                + len(plan.resources) * SECONDS_PER_RESOURCE)
    return plan.bytes_to_transfer / 1e6 / COPY_MB_PER_S + overhead / max(1, workers)
