"""The --dry-run estimate: bytes at a measured rate, plus per-object and per-resource request
costs that the workers share (a project of many small files is not estimated as if every
request waited for the one before)."""

from __future__ import annotations

import pytest

from xnat_container import tree
from xnat_container.estimate import COPY_MB_PER_S, estimate_seconds
from xnat_container.plan import ObjectAction, Plan, ResourceAction


def _plan(objects: int, resources: int, file_size: int) -> Plan:
    item = tree.Scan(xsi_type="xnat:mrScanData", id="1")
    return Plan(
        objects=[ObjectAction("scan", ("scan", str(i)), item, True) for i in range(objects)],
        resources=[ResourceAction(("scan", str(i)), tree.Resource("R"), True,
                                  upload=[tree.File("f", file_size)])
                   for i in range(resources)])


def test_request_costs_are_shared_by_the_workers():
    plan = _plan(objects=1000, resources=1000, file_size=1000)
    one, four = estimate_seconds(plan, 1), estimate_seconds(plan, 4)
    byte_part = plan.bytes_to_transfer / 1e6 / COPY_MB_PER_S
    assert four - byte_part == pytest.approx((one - byte_part) / 4)
    assert one > four > byte_part


def test_large_files_are_bounded_by_bytes_not_workers():
    plan = _plan(objects=1, resources=1, file_size=10**9)
    assert estimate_seconds(plan, 16) == pytest.approx(estimate_seconds(plan, 1), rel=0.01)
    assert estimate_seconds(plan, 4) >= 10**9 / 1e6 / COPY_MB_PER_S
