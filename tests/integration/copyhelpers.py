"""Helpers shared by the copy tests: a source and a target site, run the real CLI, and read a
project back in full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager

from lxml import etree

from xnat_container.copy import metadata
from xnat_emulator.config import User
from xnat_emulator.sample import SampleSpec, build_sample_project
from xnat_emulator.testing import InProcessEmulator

SECRET = "s3cr3t-Pa55-for-tests"
XNAT = "{http://nrg.wustl.edu/xnat}"


def copy_env(env_extra: dict | None = None) -> dict:
    env = dict(os.environ, XNAT_USER="admin", XNAT_PASS=SECRET,
               REMOTE_XNAT_USER="admin", REMOTE_XNAT_PASS=SECRET)
    env.pop("XNAT_HOST", None)
    env.update(env_extra or {})
    return env


def copy_command(src_url: str, dst_url: str, report_dir, *args) -> list[str]:
    return [sys.executable, "-m", "xnat_container", "copy", "--source-url", src_url,
            "--target-url", dst_url, "--report-dir", str(report_dir), *args]


def run_copy(src, dst, report_dir, *args, env_extra=None, timeout=300):
    """Run ``xnat-container copy`` as a subprocess; (completed process, report or None)."""
    src_url = src if isinstance(src, str) else src.url
    dst_url = dst if isinstance(dst, str) else dst.url
    report = report_dir / "report.json"
    if report.exists():
        report.unlink()
    proc = subprocess.run(copy_command(src_url, dst_url, report_dir, *args),
                          env=copy_env(env_extra), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc, json.loads(report.read_text()) if report.exists() else None


@contextmanager
def sample_sites(tmp_path_factory, subjects: int):
    """A source emulator holding the sample project SRC (``subjects`` subjects) and an empty
    target (site ID TARGET), both with admin:SECRET; stopped on exit."""
    users = (User("admin", SECRET, admin=True),)
    src = InProcessEmulator(tmp_path_factory.mktemp("src"), users=users)
    dst = InProcessEmulator(tmp_path_factory.mktemp("dst"), users=users, site_id="TARGET")
    try:
        build_sample_project(src.url, ("admin", SECRET), "SRC", SampleSpec(subjects=subjects))
        yield src, dst
    finally:
        src.stop()
        dst.stop()


def _rows(http, path: str) -> list[dict]:
    r = http.get(path, params={"format": "json"})
    r.raise_for_status()
    return r.json()["ResultSet"]["Result"]


def _resources(el, where: str, out: dict) -> dict[str, int]:
    """Resource metadata of one object (from its XML) into ``out``; key -> file_count."""
    counts: dict[str, int] = {}
    seen = Counter()
    for wrapper, io in (("resources", ""), ("in", "in"), ("out", "out"), (None, "")):
        if wrapper is None:   # scans keep their resources as xnat:file children
            elements = el.findall(f"{XNAT}file")
        else:
            elements = [r for w in el.findall(f"{XNAT}{wrapper}") for r in w
                        if isinstance(r.tag, str)]
        for res in elements:
            key = f"{io}/{res.get('label')}" if io else res.get("label")
            seen[key] += 1
            tags = sorted(t.text or "" for t in res.iter(f"{XNAT}tag"))
            out[f"{where}#res:{key}"] = (res.get("format", ""), res.get("content", ""),
                                         res.get("description", ""), tuple(tags))
            counts[key] = int(res.get("file_count") or 0)
    twice = [k for k, n in seen.items() if n > 1]
    assert not twice, f"{where}: resources twice: {twice}"
    return counts


def _files(http, listing: str, where: str, files: dict, counts: dict[str, dict[str, int]],
           io: str = "", scans: bool = False) -> None:
    for f in _rows(http, listing):
        uri = f["URI"]
        path = uri.split("/files/", 1)[1]
        owner = where
        if scans:
            owner = f"{where}/scan/{uri.split('/scans/')[1].split('/')[0]}"
        key = f"{io}/{f['collection']}" if io else f["collection"]
        name = (owner, key, path)
        assert name not in files, f"file listed twice: {name}"
        files[name] = (int(f["Size"]), f["digest"])
        counts.setdefault(owner, {}).setdefault(key, 0)
        counts[owner][key] += 1


def _session_children(exp, tag: str, key: str, e_where: str, out: dict,
                      declared: dict) -> list[tuple]:
    """A session's scans or assessors (``tag``, told apart by attribute ``key``): each one's
    metadata and resources into ``out``/``declared``; fails when a key is there twice.
    [(element, where)]."""
    children = []
    keys = Counter()
    for el in exp.iter(f"{XNAT}{tag}"):
        where = f"{e_where}/{tag}/{el.get(key)}"
        keys[el.get(key)] += 1
        out[where] = metadata.comparable(el)
        declared[where] = _resources(el, where, out)
        children.append((el, where))
    assert all(n == 1 for n in keys.values()), f"{e_where}: {tag}s twice"
    return children


def documents(emu, project, *, user=None, password=None):
    """Every object's comparable metadata, every resource's attributes and every file's
    (size, md5), keyed by labels (not accession IDs), so two sites can be compared.

    Fails when anything is there twice: a subject, session, scan or assessor label, a
    resource label on one object, a file path in a resource, or a resource whose file count
    differs from the files it lists.
    """
    http = emu.http(user, password)
    out = {"project": metadata.comparable(
        http.get(f"/data/projects/{project}", params={"format": "xml"}).content,
        project_level=True)}
    files: dict[tuple, tuple] = {}
    listed: dict[str, dict[str, int]] = {}
    declared: dict[str, dict[str, int]] = {}
    pdoc = etree.fromstring(http.get(f"/data/projects/{project}",
                                     params={"format": "xml"}).content)
    declared["project"] = _resources(pdoc, "project", out)
    _files(http, f"/data/projects/{project}/files", "project", files, listed)
    subjects = _rows(http, f"/data/projects/{project}/subjects")
    labels = Counter(r["label"] for r in subjects)
    assert all(n == 1 for n in labels.values()), f"subjects twice: {labels}"
    experiments = Counter(r["label"] for r in _rows(http, f"/data/projects/{project}/experiments"))
    assert all(n == 1 for n in experiments.values()), f"experiments twice: {experiments}"
    for row in subjects:
        doc = etree.fromstring(http.get(f"/data/projects/{project}/subjects/{row['ID']}",
                                        params={"format": "xml"}).content)
        label = row["label"]
        out[label] = metadata.comparable(doc)
        declared[label] = _resources(doc, label, out)
        _files(http, f"/data/projects/{project}/subjects/{row['ID']}/files", label, files,
               listed)
        for exp in doc.iter(f"{XNAT}experiment"):
            if exp.get("project") != project:
                continue   # shared into another project: not this project's
            e_where = f"{label}/{exp.get('label')}"
            out[e_where] = metadata.comparable(exp)
            declared[e_where] = _resources(exp, e_where, out)
            _session_children(exp, "scan", "ID", e_where, out, declared)
            base = f"/data/experiments/{exp.get('ID')}"
            _files(http, f"{base}/files", e_where, files, listed)
            _files(http, f"{base}/scans/ALL/files", e_where, files, listed, scans=True)
            for a, a_where in _session_children(exp, "assessor", "label", e_where, out,
                                                declared):
                for io in ("", "in", "out"):
                    sub = f"/{io}" if io else ""
                    _files(http, f"{base}/assessors/{a.get('ID')}{sub}/files", a_where, files,
                           listed, io=io)
    for where, resources in declared.items():
        for key, count in resources.items():
            assert listed.get(where, {}).get(key, 0) == count, (
                f"{where} {key}: file_count {count}, "
                f"{listed.get(where, {}).get(key, 0)} files listed")
    return out, files


def assert_same_project(src, src_project, dst, dst_project, expected=None):
    """The target project equals the source: metadata, resources, files; nothing twice.
    ``expected``: the source's ``documents()`` when already read."""
    src_docs, src_files = expected or documents(src, src_project)
    dst_docs, dst_files = documents(dst, dst_project)
    assert sorted(dst_docs) == sorted(src_docs)
    for key in src_docs:
        assert dst_docs[key] == src_docs[key], key
    assert sorted(dst_files) == sorted(src_files)
    assert dst_files == src_files
    return src_docs, src_files


class FaultyProxy:
    """A plain HTTP proxy in front of ``upstream`` that answers ``status`` (500) to every
    request whose method is ``method`` and whose path matches ``pattern``: a site failing for
    one resource while everything else works. With ``cut_after=True`` the first such request
    to each path is passed on instead and its connection closed before the answer (the site
    did the work, the client sees a broken connection); later ones pass."""

    def __init__(self, upstream: str, method: str, pattern: str, status: int = 500,
                 cut_after: bool = False):
        import http.client
        import re
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        parts = urlsplit(upstream)
        regex = re.compile(pattern)
        cut_paths: set[str] = set()
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                matched = self.command == method and regex.search(self.path)
                if matched and cut_after:
                    target = self.path.split("?", 1)[0]
                    matched = target not in cut_paths
                    cut_paths.add(target)
                if matched:
                    proxy.failed += 1
                if matched and not cut_after:
                    page = b"<html><body><h3>Refused by the test proxy</h3></body></html>"
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "transfer-encoding")}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if matched:     # cut_after: the work is done, the answer never arrives
                    conn.close()
                    self.close_connection = True
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
