"""import-nifti benchmarks (issue 4, "Done when").

1. Throughput: a BIDS tree of ~1 GB (4 subjects x 10 uncompressed T1w images of 256x256x190
   int16, 24.9 MB each, with sidecars) imported with ``--no-snapshots`` by the CLI (a child
   process, wall time including start-up, listing, validation, planning, verification; run
   from a fresh ``pip install .`` as the image has it), against the raw baseline: each file
   PUT with ``inbody=true`` by plain requests, one after the other, to the same emulator (a
   child process). 5 rounds, the order of the two alternating, the disk synced before each
   run; ratio of the medians. Target: import >= 85% of raw MB/s.
2. Snapshot rendering of a 256x256x256 int16 volume (``.nii`` and ``.nii.gz``), median of 5.
   Target: < 0.5 s.

Run: ``.venv/bin/python bench/bench_import.py [--quick]`` (``--quick``: 8 images). Writes
``bench/results/import.json`` (``import-quick.json``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import requests

from xnat_container.nifti import snapshots
from xnat_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (256, 256, 190)
ROUNDS = 5


def phantom(shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = np.indices(shape, dtype=np.float32)
    centre = np.array(shape, dtype=np.float32).reshape(3, 1, 1, 1) / 2
    r = np.sqrt(((g - centre) ** 2).sum(0))
    body = np.where(r < min(shape) * 0.4, 800 + 200 * np.sin(g[0] / 9) * np.cos(g[1] / 13), 0)
    return (body + rng.normal(0, 20, shape)).clip(0).astype(np.int16)


def build_tree(root: Path, images: int) -> int:
    base = phantom(SHAPE, 0)
    total = 0
    per_subject = 10
    for i in range(images):
        sub, run = i // per_subject + 1, i % per_subject + 1
        anat = root / f"sub-{sub:02d}" / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        stem = f"sub-{sub:02d}_run-{run}_T1w"
        data = base.copy()
        data[0, 0, :] = i                       # every file differs
        nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.2, 1.0])), str(anat / f"{stem}.nii"))
        (anat / f"{stem}.json").write_text(json.dumps(
            {"RepetitionTime": 2.3, "EchoTime": 0.003, "FlipAngle": 9,
             "MagneticFieldStrength": 3, "SeriesDescription": "MPRAGE"}))
    (root / "dataset_description.json").write_text('{"Name": "bench", "BIDSVersion": "1.8.0"}')
    for p in root.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return total


def raw_upload(url: str, root: Path, project: str) -> tuple[int, float]:
    s = requests.Session()
    s.auth = ("admin", "admin")
    s.put(f"{url}/data/projects/{project}").raise_for_status()
    s.put(f"{url}/data/projects/{project}/subjects/S").raise_for_status()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    size = 0
    t0 = time.monotonic()
    for i, p in enumerate(files):
        with open(p, "rb") as body:
            r = s.put(f"{url}/data/projects/{project}/subjects/S/resources/R{i // 10}/files/{p.name}",
                      params={"inbody": "true"}, data=body)
        r.raise_for_status()
        size += p.stat().st_size
    return size, time.monotonic() - t0


def installed_product(venv: Path) -> Path:
    """The product as the image has it: ``pip install .`` (no extras, so no test tools such as
    pydicom, which nibabel would otherwise import at start-up; bytecode compiled) into a
    fresh venv. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


def run_import(python: Path, url: str, root: Path, report_dir: Path,
               project: str) -> tuple[dict, float]:
    env = dict(os.environ, XNAT_USER="admin", XNAT_PASS="admin")
    requests.put(f"{url}/data/projects/{project}", auth=("admin", "admin")).raise_for_status()
    t0 = time.monotonic()
    proc = subprocess.run([str(python), "-m", "xnat_container", "import-nifti", str(root),
                           "--project", project, "--url", url, "--no-snapshots",
                           "--report-dir", str(report_dir)],
                          env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads((report_dir / "report.json").read_text()), wall


def snapshot_times(tmp: Path) -> dict:
    data = phantom((256, 256, 256), 1)
    out = {}
    for ext in (".nii", ".nii.gz"):
        path = tmp / f"snap{ext}"
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            snapshots.render(nib.load(str(path)))
            times.append(time.monotonic() - t0)
        out[ext] = round(statistics.median(times), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    images = 8 if args.quick else 40
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        root = tmp / "bids"
        total = build_tree(root, images)
        python = installed_product(tmp / "venv")
        emu = EmulatorProcess(tmp / "emu")
        try:
            # interleaved rounds, medians: the machine is shared, single runs are noisy.
            raws, imports = [], []
            for i in range(ROUNDS):
                # Each timed run starts with no dirty pages of the one before left to flush;
                # the order alternates, so neither side always gets the quieter disk.
                for side in ("raw", "import") if i % 2 == 0 else ("import", "raw"):
                    os.sync()
                    if side == "raw":
                        raws.append(raw_upload(emu.url, root, f"RAW{i}"))
                    else:
                        imports.append(run_import(python, emu.url, root, tmp / f"report{i}",
                                                  f"IMP{i}"))
            rerun_report, rerun_wall = run_import(python, emu.url, root, tmp / "rerun", "IMP0")
        finally:
            emu.stop()
        raw_s = statistics.median(t for _, t in raws)
        raw_mbps = raws[0][0] / 1e6 / raw_s
        wall = statistics.median(w for _, w in imports)
        report = imports[0][0]
        import_mbps = report["done"]["bytes_uploaded"] / 1e6 / wall
        result = {
            "images": images, "tree_bytes": total,
            "rounds": ROUNDS, "cpus": os.cpu_count(),
            "raw_upload": {"seconds": round(raw_s, 2), "mb_per_s": round(raw_mbps, 1),
                           "all_seconds": [round(t, 2) for _, t in raws]},
            "import": {"seconds_wall": round(wall, 2), "mb_per_s_wall": round(import_mbps, 1),
                       "all_seconds": [round(w, 2) for _, w in imports],
                       "ratio_per_round": [round(r[1] / i[1], 3) for r, i in zip(raws, imports)],
                       "transfer_mb_per_s": report["done"]["mb_per_s"],
                       "files": report["done"]["files_uploaded"],
                       "ratio_to_raw": round(import_mbps / raw_mbps, 3), "target_ratio": 0.85},
            "rerun": {"seconds_wall": round(rerun_wall, 2),
                      "files_uploaded": rerun_report["done"]["files_uploaded"]},
            "snapshot_256cube_seconds": snapshot_times(tmp), "snapshot_target_seconds": 0.5,
        }
    out = Path(__file__).parent / "results" / ("import-quick.json" if args.quick else
                                                "import.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
