"""Find subjects, sessions and scans in the source folder: a BIDS tree or a flat folder.

Scan IDs are derived from what names the image, never from enumeration order, so a re-run, or
a run after new files were added, gives every image the same ID:

- BIDS: the file's entities without ``sub``/``ses``, then its suffix
  (``sub-01_ses-1_task-rest_run-1_bold.nii.gz`` -> ``task-rest_run-1_bold``);
- flat: the file stem (entities without ``sub``/``ses`` when the name is BIDS-like),
  with characters XNAT does not allow in IDs replaced by ``_``.

Scan type: BIDS suffix with its entities except ``sub``, ``ses``, ``run`` (``T1w``,
``task-rest_bold``, ``dir-AP_epi``); for a name that is not BIDS-like, the sidecar's
``SeriesDescription``, else its ``ProtocolName``, else the scan ID.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .source import walk_files

IMAGE_EXTENSIONS = (".nii.gz", ".nii")
SCAN_COMPANIONS = (".json", ".bval", ".bvec")
TYPE_LEAVES_OUT = {"sub", "ses", "run"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def looks_like_nifti(path: Path) -> bool:
    """A NIFTI-1/2 header (plain or gzip-compressed), whatever the file is called."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(352)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as stream:
                head = stream.read(352)
    except (OSError, EOFError, zlib.error):
        return False
    return head[344:348] in (b"n+1\0", b"ni1\0") or head[4:8] in (b"n+2\0", b"ni2\0")


WRONG_EXTENSION = "a NIFTI image without the .nii or .nii.gz extension: rename it to be imported"


def split_ext(name: str) -> tuple[str, str]:
    low = name.lower()
    for ext in IMAGE_EXTENSIONS + (".tsv.gz",):
        if low.endswith(ext):
            return name[: -len(ext)], name[-len(ext):]
    if "." in name:
        stem, ext = name.rsplit(".", 1)
        return stem, "." + ext
    return name, ""


def parse_bids_name(stem: str) -> tuple[list[tuple[str, str]], str] | None:
    """``sub-01_task-rest_bold`` -> ([("sub", "01"), ("task", "rest")], "bold"), else None."""
    parts = stem.split("_")
    entities = []
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if not sep or not key or not value:
            return None
        entities.append((key, value))
    suffix = parts[-1]
    if not suffix or "-" in suffix:
        return None
    return entities, suffix


def safe_id(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "scan"


@dataclass
class ScanSpec:
    subject: str
    session: str
    scan_id: str
    type: str
    image: Path
    rel: str                                  # path in the source, for reports
    datatype: str = ""                        # BIDS folder: anat, func, dwi, fmap, ...
    suffix: str = ""
    entities: dict[str, str] = field(default_factory=dict)
    sidecar: Path | None = None               # the image's own JSON sidecar
    companions: list[Path] = field(default_factory=list)   # .json/.bval/.bvec/events...
    meta: dict = field(default_factory=dict)  # sidecar metadata, inherited files merged

    @property
    def stem(self) -> str:
        return split_ext(self.image.name)[0]

    @property
    def series_description(self) -> str:
        value = self.meta.get("SeriesDescription")
        return str(value) if value not in (None, "") else self.stem


@dataclass
class SessionSpec:
    subject: str
    label: str
    scans: dict[str, ScanSpec] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)   # session BIDS resource: path -> file


@dataclass
class Discovery:
    layout: str
    sessions: list[SessionSpec] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (path, reason)
    no_sidecar: list[str] = field(default_factory=list)     # BIDS images without their JSON

    def scans(self):
        for session in self.sessions:
            yield from session.scans.values()


def detect(root: Path) -> str:
    return "bids" if any(p.is_dir() and p.name.startswith("sub-") for p in root.iterdir()) \
        else "flat"


def discover(root: Path, layout: str = "auto", subject: str | None = None,
             session: str | None = None) -> Discovery:
    if layout == "auto":
        layout = detect(root)
    files, refused = walk_files(root)
    found = (_bids(root, files, session) if layout == "bids"
             else _flat(root, files, subject, session))
    found.rejected[:0] = refused
    # A sidecar that was refused (invalid JSON) is not uploaded either.
    found.rejected = list(dict.fromkeys(found.rejected))
    bad = {root.resolve() / p for p, _ in found.rejected}
    for session in found.sessions:
        session.files = {k: v for k, v in session.files.items() if v not in bad}
        for scan in session.scans.values():
            scan.companions = [c for c in scan.companions if c not in bad]
            if scan.sidecar in bad:
                scan.sidecar = None
    return found


# -- BIDS ---------------------------------------------------------------------------------------

def _bids(root: Path, files: list[Path], session_override: str | None) -> Discovery:
    found = Discovery("bids")
    sessions: dict[tuple[str, str], SessionSpec] = {}
    top_files: dict[str, Path] = {}
    subject_files: dict[str, dict[str, Path]] = {}
    jsons: dict[Path, list[tuple[Path, list, str]]] = {}   # folder -> parsed JSON names
    images: list[tuple[Path, tuple[str, ...]]] = []
    rest: list[tuple[Path, tuple[str, ...]]] = []
    for path in files:
        parts = path.relative_to(root).parts
        if len(parts) == 1 and parts[0].startswith("sub-"):
            found.rejected.append((parts[0], "named like a subject folder (sub-*) but it is "
                                             "a file"))
            continue
        if not is_image(path.name) and looks_like_nifti(path):
            found.rejected.append(("/".join(parts), WRONG_EXTENSION))
            continue
        if len(parts) == 1:
            top_files[parts[0]] = path
            if path.suffix == ".json":
                _remember_json(jsons, path)
            continue
        if not parts[0].startswith("sub-"):
            found.skipped.append(("/".join(parts), "outside sub-* folders (not imported)"))
            continue
        if path.name.endswith(".json"):
            _remember_json(jsons, path)
        (images if is_image(path.name) else rest).append((path, parts))

    def session_for(parts: tuple[str, ...]) -> tuple[SessionSpec, int]:
        sub = parts[0][4:]
        has_ses = len(parts) > 2 and parts[1].startswith("ses-")
        ses = parts[1][4:] if has_ses else ""
        key = (sub, ses)
        if key not in sessions:
            label = session_override or (f"{sub}_{ses}" if ses else sub)
            sessions[key] = SessionSpec(sub, safe_id(label))
        return sessions[key], 2 if has_ses else 1

    taken: set[Path] = set()
    for path, parts in images:
        spec, depth = session_for(parts)
        stem, _ = split_ext(path.name)
        parsed = parse_bids_name(stem)
        rel = "/".join(parts)
        if parsed is None:
            found.rejected.append((rel, "not a BIDS file name (entities_suffix)"))
            continue
        entities, suffix = parsed
        scan_id = safe_id("_".join([f"{k}-{v}" for k, v in entities if k not in ("sub", "ses")]
                                   + [suffix]))
        scan_type = "_".join([f"{k}-{v}" for k, v in entities if k not in TYPE_LEAVES_OUT]
                             + [suffix])
        if scan_id in spec.scans:
            found.rejected.append((rel, f"scan ID {scan_id} already taken by "
                                        f"{spec.scans[scan_id].rel}"))
            continue
        datatype = parts[depth] if len(parts) > depth + 1 else ""
        scan = ScanSpec(spec.subject, spec.label, scan_id, scan_type, path, rel, datatype,
                        suffix, dict(entities))
        # "sub-01_task-rest_" claims sub-01_task-rest_events.tsv, _physio.tsv.gz, ...
        own_entities = [k for k, _ in entities if k not in ("sub", "ses")]
        prefix = stem[: -len(suffix)] if own_entities else ""
        image_stems = {split_ext(o.name)[0] for o in path.parent.iterdir() if is_image(o.name)}
        for sibling in sorted(path.parent.iterdir()):
            if sibling in taken or not sibling.is_file() or is_image(sibling.name):
                continue
            s_stem, ext = split_ext(sibling.name)
            if (s_stem == stem and ext in SCAN_COMPANIONS) or (
                    prefix and s_stem.startswith(prefix) and s_stem not in image_stems):
                scan.companions.append(sibling)
                taken.add(sibling)
                if s_stem == stem and ext == ".json":
                    scan.sidecar = sibling
        if scan.sidecar is None:
            found.no_sidecar.append(rel)
        scan.meta, bad = _inherited_metadata(root, path, entities, suffix, jsons)
        for bad_path, reason in bad:
            found.rejected.append((bad_path.relative_to(root).as_posix(), reason))
        spec.scans[scan_id] = scan
    for path, parts in rest:
        if path in taken:
            continue
        spec, depth = session_for(parts)
        if len(parts) == 2 and not parts[1].startswith("ses-"):
            # sub-X/sub-X_sessions.tsv: the subject's, given to each of its sessions
            subject_files.setdefault(parts[0][4:], {})[parts[1]] = path
            continue
        spec.files["/".join(parts[depth:])] = path
    found.sessions = sorted(sessions.values(), key=lambda s: (s.subject, s.label))
    for spec in found.sessions:
        merged = dict(top_files)
        merged.update(subject_files.get(spec.subject, {}))
        merged.update(spec.files)
        spec.files = merged
    return found


def _remember_json(jsons: dict, path: Path) -> None:
    parsed = parse_bids_name(path.name[:-5])
    if parsed is not None:
        jsons.setdefault(path.parent, []).append((path, parsed[0], parsed[1]))


def _inherited_metadata(root: Path, image: Path, entities: list, suffix: str,
                        jsons: dict) -> tuple[dict, list[tuple[Path, str]]]:
    """BIDS inheritance: JSON files with the same suffix and a subset of the image's entities,
    from the top folder down to the image's, the nearer (and more specific) winning."""
    have = set(entities)
    chain: list[Path] = []
    folder = image.parent
    while True:
        chain.append(folder)
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    meta: dict = {}
    bad: list[tuple[Path, str]] = []
    for folder in reversed(chain):
        candidates = [(len(ents), path) for path, ents, sfx in jsons.get(folder, [])
                      if sfx == suffix and set(ents) <= have]
        for _, path in sorted(candidates):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as exc:
                bad.append((path, f"invalid JSON sidecar: {exc}"))
                continue
            if isinstance(data, dict):
                meta.update(data)
            else:
                bad.append((path, "JSON sidecar is not an object"))
    return meta, bad


# -- flat ---------------------------------------------------------------------------------------

def _flat(root: Path, files: list[Path], subject: str | None,
          session: str | None) -> Discovery:
    found = Discovery("flat")
    subject = subject or ""
    spec = SessionSpec(safe_id(subject) if subject else "",
                       safe_id(session or subject) if (session or subject) else "")
    taken: set[Path] = set()
    for path in files:
        if not is_image(path.name):
            continue
        rel = path.relative_to(root).as_posix()
        stem, _ = split_ext(path.name)
        parsed = parse_bids_name(stem)
        bids_like = parsed is not None and bool(parsed[0])
        if bids_like:
            entities, suffix = parsed
            scan_id = safe_id("_".join([f"{k}-{v}" for k, v in entities
                                        if k not in ("sub", "ses")] + [suffix]))
        else:
            entities, suffix = [], ""
            scan_id = safe_id(stem)
        if scan_id in spec.scans:
            found.rejected.append((rel, f"scan ID {scan_id} already taken by "
                                        f"{spec.scans[scan_id].rel}"))
            continue
        scan = ScanSpec(spec.subject, spec.label, scan_id, "", path, rel, "", suffix,
                        dict(entities))
        for ext in SCAN_COMPANIONS:
            companion = path.parent / f"{stem}{ext}"
            if companion.is_file():
                scan.companions.append(companion)
                taken.add(companion)
        sidecar = path.parent / f"{stem}.json"
        if sidecar.is_file():
            scan.sidecar = sidecar
            try:
                data = json.loads(sidecar.read_text(encoding="utf-8"))
                scan.meta = data if isinstance(data, dict) else {}
            except (ValueError, OSError) as exc:
                found.rejected.append((sidecar.relative_to(root).as_posix(),
                                       f"invalid JSON sidecar: {exc}"))
        if bids_like:
            scan.type = "_".join([f"{k}-{v}" for k, v in entities if k not in TYPE_LEAVES_OUT]
                                 + [suffix])
        else:
            scan.type = str(scan.meta.get("SeriesDescription") or scan.meta.get("ProtocolName")
                            or scan_id)
        spec.scans[scan_id] = scan
    for path in files:
        if not is_image(path.name) and path not in taken and looks_like_nifti(path):
            found.rejected.append((path.relative_to(root).as_posix(), WRONG_EXTENSION))
        elif not is_image(path.name) and path not in taken:
            found.skipped.append((path.relative_to(root).as_posix(),
                                  "not an image or the sidecar of one (not imported)"))
    if spec.scans:
        found.sessions = [spec]
    return found
