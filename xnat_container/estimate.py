"""Time estimates for ``--dry-run``, from throughput measured by ``bench/bench_copy.py``."""

from __future__ import annotations

from .plan import Plan

# Measured on the 2-core development machine, emulator to emulator on loopback (see README,
# "Performance"). Real networks are usually slower: the estimate is a lower bound.
COPY_MB_PER_S = 150.0
SECONDS_PER_OBJECT = 0.01
SECONDS_PER_RESOURCE = 0.02


def estimate_seconds(plan: Plan) -> float:
    return (plan.bytes_to_transfer / 1e6 / COPY_MB_PER_S
            + len(plan.objects) * SECONDS_PER_OBJECT
            + len(plan.resources) * SECONDS_PER_RESOURCE)
