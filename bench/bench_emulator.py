"""Emulator benchmarks: 1 GiB single-file PUT/GET throughput and server memory, and the time
to list 10,000 experiments of one project.

Targets (issue 2): >= 150 MB/s each way on loopback, server RSS growth <= 100 MB while a
1 GiB file streams, listing 10,000 experiments in under 2 s.

Run: ``.venv/bin/python bench/bench_emulator.py [--size-mib 1024] [--experiments 10000]``.
Writes a JSON summary to ``bench/results/emulator.json`` and prints it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from xnat_emulator.archive import Incoming
from xnat_emulator.config import EmulatorConfig
from xnat_emulator.testing import EmulatorProcess

CHUNK = 1 << 20


class RssSampler:
    """Peak resident memory of a process, sampled every 20 ms on a thread."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


def make_big_file(path: Path, size: int) -> str:
    """Random-looking bytes (a repeated random 1 MiB block) and their MD5."""
    block = os.urandom(CHUNK)
    digest = hashlib.md5()
    with open(path, "wb") as out:
        written = 0
        while written < size:
            piece = block[: min(CHUNK, size - written)]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def bench_big_file(emu: EmulatorProcess, work: Path, size: int) -> dict:
    http = emu.http()
    http.put("/data/projects/BENCH").raise_for_status()
    url = "/data/projects/BENCH/resources/BIG/files/big.bin"
    source = work / "big.bin"
    md5 = make_big_file(source, size)

    with RssSampler(emu.pid) as put_mem, open(source, "rb") as body:
        start = time.perf_counter()
        r = http.put(url, params={"inbody": "true"}, data=body, timeout=600)
        put_seconds = time.perf_counter() - start
    r.raise_for_status()

    got = hashlib.md5()
    with RssSampler(emu.pid) as get_mem:
        start = time.perf_counter()
        with http.get(url, stream=True, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_content(CHUNK):
                got.update(chunk)
        get_seconds = time.perf_counter() - start
    assert got.hexdigest() == md5, "downloaded bytes differ"
    source.unlink()
    mb = size / 1e6
    return {
        "file_mib": size / CHUNK,
        "put_mb_per_s": round(mb / put_seconds, 1),
        "get_mb_per_s": round(mb / get_seconds, 1),
        "put_server_rss_growth_mb": round(put_mem.growth_mb, 1),
        "get_server_rss_growth_mb": round(get_mem.growth_mb, 1),
        "server_rss_peak_mb": round(max(put_mem.peak, get_mem.peak) / 1e6, 1),
    }


def seed_experiments(data_dir: Path, count: int, per_subject: int = 10) -> None:
    """Fill an archive directly through the archive rules (no HTTP) to save minutes."""
    from xnat_emulator.app import Emulator

    emu = Emulator(EmulatorConfig(data_dir=data_dir))
    admin = emu.auth.principal("admin")
    emu.archive.put_project(admin, "LIST", Incoming(None, {}, None))
    for i in range(count):
        subject = f"S{i // per_subject:05d}"
        emu.archive.put_experiment(
            admin, "LIST", subject, f"E{i:05d}",
            Incoming(None, {"date": "2024-01-02"}, "xnat:mrSessionData"))
    emu.store.close()


def bench_listing(emu: EmulatorProcess, count: int) -> dict:
    http = emu.http()
    timings = {}
    for fmt in ("json", "csv"):
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            r = http.get("/data/projects/LIST/experiments", params={"format": fmt})
            runs.append(time.perf_counter() - start)
            r.raise_for_status()
        if fmt == "json":
            assert r.json()["ResultSet"]["totalRecords"] == str(count)
        timings[f"list_{count}_experiments_{fmt}_s"] = round(statistics.median(runs), 3)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--experiments", type=int, default=10000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="xnat-bench-") as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        start = time.perf_counter()
        seed_experiments(data, args.experiments)
        results["seed_seconds"] = round(time.perf_counter() - start, 1)
        emu = EmulatorProcess(data)
        try:
            results.update(bench_listing(emu, args.experiments))
            results.update(bench_big_file(emu, work, args.size_mib * CHUNK))
        finally:
            emu.stop()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "emulator.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
