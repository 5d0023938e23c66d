"""xnatpy (``xnat`` 0.8.1), unchanged, against the emulator over real HTTP.

Sources: /work/shared/reference/xnat-rest.md (REF §n) and xnatpy's installed code
(``.venv/lib/python3.11/site-packages/xnat/*.py``, cited as ``XP file:function``).

Wire facts these tests depend on (read in xnatpy 0.8.1's source):

* ``xnat.connect``: ``GET {server}`` (no auth), ``PUT /data/services/auth`` (form body; 200 text
  = session id, plus a ``JSESSIONID`` cookie which is then the only credential sent),
  ``GET /data/auth`` (``User 'admin' is logged in``), ``GET /data/version`` (must fail), ``GET
  /xapi/siteConfig/buildInfo?format=json``, ``GET /xapi/schemas?format=json`` and each
  ``/xapi/schemas/{name}``, then the heartbeat ``GET /data/JSESSION``; leaving the context sends
  ``DELETE /data/JSESSION`` and anything but 200 raises (XP __init__.py:connect,
  session.py:XNATSession.disconnect, accepted_status_delete=[200]).
* Alias-token users (UUID) log in with ``GET {server}`` + Basic and read the ``JSESSIONID``
  cookie of that response, else fall back to Basic (XP __init__.py:_create_jsession).
* Any 2xx body starting with ``<!DOCTYPE`` or ``<html>`` is an error (XP session.py:_check_response).
* Listings: ``GET {uri}?format=json&columns=ID,URI[,secondary][,xsiType]``; resources rows get
  ``ID=xnat_abstractresource_id``; file rows get ``ID`` = path after ``/resources/X/files/``
  (XP core.py:XNATListing.data_maps).
* ``GET {resource}?format=json`` may answer the catalog XML starting exactly
  ``<?xml version="1.0" encoding="UTF-8"?>\\n<cat:Catalog``; xnatpy then reads the parent
  resources listing instead (XP session.py:get_json).
* ``FileData.download`` checks the MD5 of the bytes against the listing's ``digest`` when it is
  non-empty (XP header.py:FileData.download).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import uuid
import zipfile
from pathlib import Path

import pytest

xnat = pytest.importorskip("xnat")


def _uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def session(emulator):
    """An xnatpy session as a context manager (admin credentials)."""
    with xnat.connect(emulator.url, user=emulator.user, password=emulator.password,
                      loglevel="ERROR") as connection:
        yield connection


@pytest.fixture
def payload(tmp_path) -> Path:
    path = tmp_path / "x.nii.gz"
    path.write_bytes(bytes(range(256)) * 300 + b"tail")
    return path


def _make_tree(session, project: str, subject="S1", experiment="E1", scan_type="T1"):
    """Subject, MR session and scan '1' created through xnatpy's generated classes."""
    proj = session.projects[project]
    subj = session.classes.SubjectData(parent=proj, label=subject)
    exp = session.classes.MrSessionData(parent=subj, label=experiment)
    session.classes.MrScanData(parent=exp, id="1", type=scan_type)
    return proj, subj, exp


def _clear_env(monkeypatch):
    for name in ("XNATPY_HOST", "XNATPY_USER", "XNATPY_PASS", "XNAT_HOST", "XNAT_USER",
                 "XNAT_PASS", "XNAT_DATA"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- connection


def test_connect_as_context_manager(session, emulator):
    """``xnat.connect(url, user, password)`` logs in with ``/data/services/auth`` and a JSESSIONID cookie.

    Source: XP __init__.py:connect/_create_jsession/check_auth, session.py:xnat_version;
    REF §2 (services/auth, /data/auth text), §9, §12.3.
    """
    assert session.logged_in_user == emulator.user
    assert session.jsession
    assert session.interface.cookies.get("JSESSIONID")
    assert session.xnat_version.startswith(("1.8", "1.9"))
    assert "MrSessionData" in dir(session.classes)


def test_projects_listing_by_id_and_name(session, http):
    """``session.projects`` is keyed by ID and by ``name`` (secondary lookup).

    Listing request: ``GET /data/archive/projects?format=json&columns=ID,URI,name``.
    Source: XP session.py:projects (``secondary_lookup_field='name'``), core.py:XNATListing;
    REF §3.3 projects listing, §4 PUT project with ``name``.
    """
    pid = _uid("XPP")
    name = f"Name of {pid}"
    r = http.put(f"/data/projects/{pid}", params={"name": name, "secondary_ID": pid})
    assert r.status_code == 200, r.text
    session.projects.clearcache()
    assert session.projects[pid].id == pid
    assert session.projects[name].id == pid
    assert session.projects[pid].name == name
    assert pid in session.projects.keys()


# --------------------------------------------------------------------------- creation


def test_create_subject_session_scan(session, project, http):
    """``SubjectData(parent=project, label=)``, ``MrSessionData(parent=subject, label=)``,
    ``MrScanData(parent=session, id='1', type='T1')``; then listings by ID and label.

    Requests: ``PUT .../subjects/S1?xsiType=xnat:subjectData&req_format=qs&xnat:subjectData/label=S1``
    (body = new ID), ``GET /data/projects/P/experiments?format=json&columns=ID,URI,label,xsiType``
    (exists check), ``PUT .../subjects/{SID}/experiments/E1?xsiType=xnat:mrSessionData&...``,
    ``PUT .../scans/{id or type}?xsiType=xnat:mrScanData&req_format=qs&xnat:mrScanData/id=1
    &xnat:mrScanData/type=T1`` (the query's id wins over the URL segment, W18 ScanResource).
    Source: XP core.py:XNATBaseObject.__init__, mixin.py:ExperimentData.__init__; REF §4, §9.
    """
    proj, subj, exp = _make_tree(session, project)

    assert subj.id.startswith("XNAT_S")
    assert subj.label == "S1"
    assert proj.subjects["S1"].id == subj.id
    assert proj.subjects[subj.id].label == "S1"

    assert exp.id.startswith("XNAT_E")
    assert exp.label == "E1"
    assert subj.experiments["E1"].id == exp.id
    proj.experiments.clearcache()
    assert proj.experiments["E1"].id == exp.id
    assert proj.experiments[exp.id].__xsi_type__ == "xnat:mrSessionData"

    scan = exp.scans["1"]
    assert scan.__xsi_type__ == "xnat:mrScanData"
    assert scan.type == "T1"
    assert exp.scans["T1"].id == "1"  # secondary lookup of scans is ``type``

    rows = http.get(f"/data/projects/{project}/subjects/S1/experiments/E1/scans",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    assert [(r["ID"], r["type"]) for r in rows] == [("1", "T1")]


def test_create_pet_and_ct_sessions(session, project, http):
    """``PetSessionData`` / ``CtSessionData`` creation PUTs ``xsiType=xnat:petSessionData`` / ``ctSessionData``.

    Source: XP core.py:XNATBaseObject.__init__; REF §4 (experiment PUT 201 + ID).
    """
    proj = session.projects[project]
    subj = session.classes.SubjectData(parent=proj, label="S1")
    pet = session.classes.PetSessionData(parent=subj, label="PET1")
    ct = session.classes.CtSessionData(parent=subj, label="CT1")
    assert pet.id != ct.id

    proj.experiments.clearcache()
    assert proj.experiments["PET1"].__xsi_type__ == "xnat:petSessionData"
    assert proj.experiments["CT1"].__xsi_type__ == "xnat:ctSessionData"

    rows = http.get(f"/data/projects/{project}/experiments",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    assert sorted((r["label"], r["xsiType"]) for r in rows) == [
        ("CT1", "xnat:ctSessionData"), ("PET1", "xnat:petSessionData")]


def test_create_existing_experiment_label_is_refused(session, project):
    """Creating a second experiment with a label already in the project raises ``XNATObjectAlreadyExistsError``.

    Source: XP mixin.py:ExperimentData.__init__ (reads the project's experiments listing first).
    """
    proj, subj, _ = _make_tree(session, project)
    proj.experiments.clearcache()
    with pytest.raises(xnat.exceptions.XNATObjectAlreadyExistsError):
        session.classes.MrSessionData(parent=subj, label="E1")


# --------------------------------------------------------------------------- attributes


def test_set_subject_demographics_experiment_date_scan_type(session, project, http, emulator):
    """Attribute setters PUT ``{fulluri}?xsiType=...&{xpath}={value}``; a new connection reads them back.

    ``subject.demographics.gender`` → ``xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender``;
    ``experiment.date`` → ``xnat:mrSessionData/date``; ``scan.type`` → ``xnat:mrScanData/type``.
    Reading needs the subject JSON ``children`` entry ``field='demographics'`` with
    ``meta['xsi:type']='xnat:demographicData'`` (XP core.py:XNATBaseObject.get_object,
    XNATNestedObject.fulldata).
    Source: XP core.py:XNATBaseObject.mset/set, XNATNestedObject.xpath; REF §6 (item JSON).
    """
    _, subj, exp = _make_tree(session, project)
    subj.demographics.gender = "female"
    subj.demographics.age = 42
    exp.date = datetime.date(2024, 3, 5)
    exp.scans["1"].type = "T2"

    with xnat.connect(emulator.url, user=emulator.user, password=emulator.password,
                      loglevel="ERROR") as again:
        subj2 = again.projects[project].subjects["S1"]
        assert subj2.demographics.gender == "female"
        assert int(subj2.demographics.age) == 42
        exp2 = subj2.experiments["E1"]
        assert str(exp2.date) == "2024-03-05"
        assert exp2.scans["1"].type == "T2"

    rows = http.get(f"/data/projects/{project}/subjects",
                    params={"format": "json", "columns": "ID,label,gender"}).json()
    assert [(r["label"], r["gender"]) for r in rows["ResultSet"]["Result"]] == [("S1", "female")]


# --------------------------------------------------------------------------- files


def test_resource_upload_files_download(session, project, payload, tmp_path):
    """``scan.create_resource('NIFTI')``, ``resource.upload(path, name)``, ``resource.files[name]``,
    ``file.download(dest)`` byte-identical, ``resource.download(zip)``, ``scans['1'].resources['NIFTI']``.

    Requests: ``PUT {scan}/resources/NIFTI``; ``GET {scan}/resources/NIFTI?format=json`` (catalog
    XML fallback → ``GET {scan}/resources?format=json``); ``PUT {res}/files/x.nii.gz`` with
    ``Content-Type: application/octet-stream`` and no ``inbody``; ``GET {res}/files?format=json
    &columns=ID,URI,Name``; ``GET {file URI}``; ``GET {res}/files?format=zip``.
    Source: XP mixin.py:ImageScanData.create_resource, AbstractResource.upload/download,
    header.py:FileData.download, session.py:upload_stream/get_json; REF §5.1, §5.4, §5.5.
    """
    _, _, exp = _make_tree(session, project)
    scan = exp.scans["1"]
    resource = scan.create_resource("NIFTI")
    assert resource.label == "NIFTI"
    resource.upload(payload, "x.nii.gz")
    resource.upload(payload, "sub/dir/y.nii.gz")

    assert sorted(resource.files.keys()) == ["sub/dir/y.nii.gz", "x.nii.gz"]
    file_ = resource.files["x.nii.gz"]
    dest = tmp_path / "dl.nii.gz"
    file_.download(str(dest), verbose=False)
    assert dest.read_bytes() == payload.read_bytes()
    nested = tmp_path / "dl2.nii.gz"
    resource.files["sub/dir/y.nii.gz"].download(str(nested), verbose=False)
    assert nested.read_bytes() == payload.read_bytes()

    exp.scans.clearcache()
    again = exp.scans["1"].resources["NIFTI"]
    assert again.id.isdigit()
    assert again.file_count == 2
    assert again.file_size == 2 * payload.stat().st_size

    zip_path = tmp_path / "res.zip"
    again.download(str(zip_path), verbose=False)
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == [
            "E1/scans/1-T1/resources/NIFTI/files/sub/dir/y.nii.gz",
            "E1/scans/1-T1/resources/NIFTI/files/x.nii.gz",
        ]
        assert zf.read("E1/scans/1-T1/resources/NIFTI/files/x.nii.gz") == payload.read_bytes()


@pytest.mark.parametrize("method", ["tgz_file", "per_file"])
def test_resource_upload_dir(session, project, tmp_path, method):
    """``resource.upload_dir(dir)``: default packs a ``upload.tar.gz`` and PUTs it with ``extract=true``.

    The tar has a root entry named ``""`` (``tarfile.add(directory, "")``) that must be skipped;
    ``per_file`` PUTs each file to its relative path.
    Source: XP mixin.py:AbstractResource.upload_dir/upload_data; REF §5.1 (extraction of
    ``.tar.gz``, entries under the resource root).
    """
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    proj = session.projects[project]
    subj = session.classes.SubjectData(parent=proj, label="S1")
    resource = subj.create_resource("DIR")
    resource.upload_dir(src, method=method)
    assert sorted(resource.files.keys()) == ["a.txt", "sub/b.txt"]


def test_experiment_download_dir_layout(session, project, payload, tmp_path):
    """``experiment.download_dir(dest)`` unzips ``{fulluri}/scans/ALL/files?format=zip`` into ``dest``.

    Layout: ``dest/E1/scans/1-T1/resources/NIFTI/files/x.nii.gz``. ``fulluri`` is
    ``/data/archive/projects/P/subjects/{subject_ID}/experiments/{ID}``, so the experiment JSON
    must carry ``subject_ID`` (XP mixin.py:SubjectAssessorData.fulluri).
    Source: XP mixin.py:ImageSessionData.download_dir (first a JSON listing of the same URL);
    REF §5.5.
    """
    _, _, exp = _make_tree(session, project)
    resource = exp.scans["1"].create_resource("NIFTI")
    resource.upload(payload, "x.nii.gz")

    dest = tmp_path / "out"
    dest.mkdir()
    exp.download_dir(str(dest), verbose=False)
    got = dest / "E1" / "scans" / "1-T1" / "resources" / "NIFTI" / "files" / "x.nii.gz"
    assert got.read_bytes() == payload.read_bytes()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "E1/scans/1-T1/resources/NIFTI/files/x.nii.gz"]

    archive = tmp_path / "exp.zip"
    exp.download(str(archive), verbose=False)
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["E1/scans/1-T1/resources/NIFTI/files/x.nii.gz"]


def test_real_nifti_upload_download(session, project, tmp_path):
    """A real NIFTI (nibabel ``example4d.nii.gz``) survives upload/download byte-identical.

    Source: XP mixin.py:AbstractResource.upload, header.py:FileData.download (MD5 vs ``digest``).
    """
    data_path = pytest.importorskip("nibabel.testing").data_path
    src = Path(data_path) / "example4d.nii.gz"
    _, _, exp = _make_tree(session, project)
    resource = exp.scans["1"].create_resource("NIFTI")
    resource.upload(src, src.name, file_format="NIFTI", file_content="NIFTI_RAW")
    file_ = resource.files[src.name]
    assert file_.digest in ("", hashlib.md5(src.read_bytes()).hexdigest())
    dest = tmp_path / src.name
    file_.download(str(dest), verbose=False)
    assert dest.read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------- deletion


def test_delete_file_scan_experiment_subject(session, project, payload, http):
    """``delete()`` of file, scan, experiment, subject → ``DELETE`` answered 200 (xnatpy accepts only 200).

    Source: XP core.py:XNATBaseObject.delete (``?removeFiles=true``), header.py:FileData.delete,
    session.py:delete (accepted_status_delete=[200]); REF §4, §5.2.
    """
    proj, subj, exp = _make_tree(session, project)
    resource = exp.scans["1"].create_resource("NIFTI")
    resource.upload(payload, "x.nii.gz")

    resource.files["x.nii.gz"].delete()
    resource.files.clearcache()
    assert list(resource.files.keys()) == []

    exp.scans["1"].delete()
    exp.scans.clearcache()
    assert len(exp.scans) == 0
    exp.delete()
    subj.experiments.clearcache()
    assert len(subj.experiments) == 0
    subj.delete()
    proj.subjects.clearcache()
    assert len(proj.subjects) == 0
    assert http.get(f"/data/projects/{project}/subjects/S1", params={"format": "json"}
                    ).status_code == 404


# --------------------------------------------------------------------------- environment / tokens


def test_login_from_environment(monkeypatch, emulator, project):
    """``XNAT_HOST``/``XNAT_USER``/``XNAT_PASS`` supply the credentials (the container-service way).

    Source: XP __init__.py:connect (user/password fall back to ``XNAT_USER``/``XNAT_PASS``);
    REF §10. The server is passed explicitly: see the next test for ``connect()`` without it.
    """
    _clear_env(monkeypatch)
    monkeypatch.setenv("XNAT_HOST", emulator.url)
    monkeypatch.setenv("XNAT_USER", emulator.user)
    monkeypatch.setenv("XNAT_PASS", emulator.password)
    with xnat.connect(os.environ["XNAT_HOST"], loglevel="ERROR") as connection:
        assert connection.logged_in_user == emulator.user
        assert connection.projects[project].id == project


@pytest.mark.xfail(raises=AttributeError, strict=False,
                   reason="xnatpy 0.8.1 hashes `server` before reading XNAT_HOST "
                          "(xnat/__init__.py:connect: server.encode on None)")
def test_login_from_environment_without_server_argument(monkeypatch, emulator):
    """``xnat.connect()`` with no arguments should read ``XNAT_HOST`` too (client bug in 0.8.1).

    Source: XP __init__.py:connect docstring; the crash happens before any request.
    """
    _clear_env(monkeypatch)
    monkeypatch.setenv("XNAT_HOST", emulator.url)
    monkeypatch.setenv("XNAT_USER", emulator.user)
    monkeypatch.setenv("XNAT_PASS", emulator.password)
    with xnat.connect(loglevel="ERROR") as connection:
        assert connection.logged_in_user == emulator.user


def _issue_token(http) -> dict:
    r = http.get("/data/services/tokens/issue")
    assert r.status_code == 200, r.text
    token = r.json()
    uuid.UUID(token["alias"])
    assert len(token["secret"]) >= 32
    return token


def test_login_with_alias_token(http, emulator, project):
    """An alias token (UUID alias + secret) as user/password logs in as the token's owner.

    xnatpy sees a UUID user and does ``GET {server}`` with Basic alias:secret, taking the
    ``JSESSIONID`` cookie of that response (else Basic on every request); ``/data/auth`` then
    names the owner.
    Source: XP __init__.py:_create_jsession/check_auth; REF §2 (alias tokens as Basic creds).
    """
    token = _issue_token(http)
    with xnat.connect(emulator.url, user=token["alias"], password=token["secret"],
                      loglevel="ERROR") as connection:
        assert connection.logged_in_user == emulator.user
        assert connection.projects[project].id == project
        subj = connection.classes.SubjectData(parent=connection.projects[project], label="TOK1")
        assert subj.id.startswith("XNAT_S")


def test_login_with_alias_token_from_environment(monkeypatch, http, emulator, project):
    """The container-service environment: ``XNAT_USER``=alias, ``XNAT_PASS``=secret.

    Source: REF §10 (container env), XP __init__.py:connect.
    """
    token = _issue_token(http)
    _clear_env(monkeypatch)
    monkeypatch.setenv("XNAT_HOST", emulator.url)
    monkeypatch.setenv("XNAT_USER", token["alias"])
    monkeypatch.setenv("XNAT_PASS", token["secret"])
    with xnat.connect(os.environ["XNAT_HOST"], loglevel="ERROR") as connection:
        assert connection.logged_in_user == emulator.user
        assert project in connection.projects.keys()


def test_bad_password_is_a_login_failure(emulator):
    """Wrong credentials: ``PUT /data/services/auth`` → 401, xnatpy raises ``XNATLoginFailedError``.

    Source: XP __init__.py:_create_jsession (non-200 → XNATLoginFailedError); REF §2.
    """
    with pytest.raises(xnat.exceptions.XNATLoginFailedError):
        xnat.connect(emulator.url, user=emulator.user, password="wrong-password",
                     loglevel="CRITICAL")

