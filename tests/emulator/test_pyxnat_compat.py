"""pyxnat 1.6.4, unchanged, against the emulator over real HTTP.

Every test drives pyxnat's public API and checks what a real XNAT 1.8/1.9 would give back.
Sources: /work/shared/reference/xnat-rest.md (cited as REF §n) and pyxnat's installed code
(``.venv/lib/python3.11/site-packages/pyxnat/core/*.py``, cited as ``PX file:function``).

Wire facts these tests depend on (read in pyxnat's source):

* pyxnat reads every listing as CSV (``PX interfaces.py:_get_json`` rewrites ``format=json``);
  a listing row that has ``xsiType`` must also have a ``URI`` starting with ``/data``
  (``PX resources.py:CObject._learn_from_table``), otherwise the collection is silently empty.
* ``exists()``/``id()``/``datatype()`` read the parent collection with
  ``?format=csv&columns=<ID,label[,xsiType]>`` and match the last URI segment against the
  ID or the label column (``PX resources.py:EObject._getcells``).
* ``File.put`` POSTs to ``.../resources/{numeric id}/files/{name}?format=&content=&tags=
  &overwrite=false&inbody=true`` with the raw bytes and no Content-Type
  (``PX resources.py:File.put``).
* The first request of an Interface is ``GET /data/JSESSION``; if it fails pyxnat silently
  falls back to the ``/REST`` prefix (``PX interfaces.py:_get_entry_point``).
"""

from __future__ import annotations

import email.utils
import io
import os
import uuid
import zipfile
from pathlib import Path

import pytest

pyxnat = pytest.importorskip("pyxnat")
from pyxnat import Interface  # noqa: E402

NIFTI_EXAMPLES = ("example4d.nii.gz", "example_nifti2.nii.gz", "anatomical.nii")


def _uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def intf(emulator):
    """A pyxnat Interface with the admin's Basic credentials (no request is made yet)."""
    interface = Interface(server=emulator.url, user=emulator.user, password=emulator.password)
    yield interface
    interface._http.close()


@pytest.fixture
def payload(tmp_path) -> Path:
    """A 100 kB binary file with every byte value (checks nothing is re-encoded)."""
    path = tmp_path / "payload.bin"
    path.write_bytes(bytes(range(256)) * 400)
    return path


def _nifti_path(name: str) -> Path:
    data_path = pytest.importorskip("nibabel.testing").data_path
    path = Path(data_path) / name
    if not path.exists():
        pytest.skip(f"nibabel test file {name} not installed")
    return path


# --------------------------------------------------------------------------- connection


def test_first_request_opens_jsession_on_data_prefix(intf, project):
    """pyxnat's first call does ``GET /data/JSESSION`` (Basic) and keeps the ``/data`` entry point.

    Source: PX interfaces.py:_get_entry_point (a failing JSESSION silently switches pyxnat to
    ``/REST``); REF §2 JSESSION (200 text/plain body = session id).
    """
    assert intf.select.project(project).exists()
    assert intf._entry == "/data"
    assert intf._jsession and intf._jsession.startswith("JSESSIONID=")


def test_version_falls_back_to_buildinfo(intf):
    """``Interface.version()`` tries ``/data/version`` (absent in 1.7+) then ``/xapi/siteConfig/buildInfo``.

    Source: PX interfaces.py:version (catches DatabaseError only; an error body that is
    well-formed XML starting with ``<html>`` makes PX errors.py:parse_error_message raise
    UnboundLocalError instead); REF §1 (no /data/version route → 404), §2 buildInfo.
    """
    version = intf.version()
    assert isinstance(version, dict)
    assert version["version"].startswith(("1.8", "1.9"))


def test_disconnect_deletes_jsession(emulator, project):
    """``Interface.disconnect()`` sends ``DELETE /data/JSESSION`` and must not raise.

    Source: PX interfaces.py:disconnect / close_jsession (``raise_for_status``); REF §2 JSESSION.
    """
    interface = Interface(server=emulator.url, user=emulator.user, password=emulator.password)
    assert project in interface.select.projects().get()
    interface.disconnect()

    with Interface(server=emulator.url, user=emulator.user, password=emulator.password) as again:
        assert again.select.project(project).exists()
    # __exit__ closed the JSESSION with raise_for_status(): reaching here means it answered 2xx


def test_inspect_datatypes_lists_core_types(intf):
    """``interface.inspect.datatypes()`` reads ``GET /data/search/elements?format=csv`` column ``ELEMENT_NAME``.

    Source: PX help.py:Inspector.datatypes; REF §8 (search elements).
    """
    datatypes = intf.inspect.datatypes()
    for name in ("xnat:projectData", "xnat:subjectData", "xnat:mrSessionData",
                 "xnat:petSessionData", "xnat:mrScanData"):
        assert name in datatypes
    sessions = intf.inspect.datatypes("xnat:*SessionData")
    assert "xnat:mrSessionData" in sessions and "xnat:subjectData" not in sessions


# --------------------------------------------------------------------------- seed recipe


def test_seed_recipe_scan_file_put_exists_and_scan_type(emulator, project, payload, http):
    """The seed recipe: one chained ``file(...).put(...)`` creates subject, session, scan, resource and file.

    Then ``file.exists()`` is True and ``scan.attrs.set('type', 'T1w')`` reads back through
    ``attrs.get`` and through the scans listing.
    Source: REF §12.1 (wire trace: ancestors PUT top-down with xsiType, resource PUT without
    query, POST to the numeric resource id with inbody=true); PX resources.py:File.put,
    EObject.create, attributes.py:EAttrs.set/get; REF §3.3 scans listing.
    """
    p, s, e, name = project, "S1", "E1", "x.nii.gz"
    path = str(payload)

    Interface(server=emulator.url, user=emulator.user, password=emulator.password).select.project(p).subject(s).experiment(e).scan('1').resource('NIFTI').file(name).put(path, format=' ', content=' ', tags=' ')  # noqa: E501

    intf = Interface(server=emulator.url, user=emulator.user, password=emulator.password)
    scan = intf.select.project(p).subject(s).experiment(e).scan("1")
    file_ = scan.resource("NIFTI").file(name)
    assert file_.exists() is True
    assert int(file_.size()) == payload.stat().st_size

    assert intf.select.project(p).subject(s).exists()
    assert intf.select.project(p).subject(s).experiment(e).datatype() == "xnat:mrSessionData"
    assert scan.datatype() == "xnat:mrScanData"

    scan.attrs.set("type", "T1w")
    assert scan.attrs.get("type") == "T1w"

    rows = http.get(f"/data/projects/{p}/subjects/{s}/experiments/{e}/scans",
                    params={"format": "json"}).json()["ResultSet"]["Result"]
    assert [(r["ID"], r["type"], r["xsiType"]) for r in rows] == [("1", "T1w", "xnat:mrScanData")]


# --------------------------------------------------------------------------- creation


def test_project_create_exists_delete(intf):
    """``select.project(new).create()`` → ``PUT /data/projects/{P}?xsiType=xnat:projectData``.

    ``exists()`` reads ``GET /data/projects?format=csv&columns=ID``; ``delete()`` sends
    ``DELETE /data/projects/{P}?removeFiles=true``.
    Source: PX resources.py:EObject.create/exists/delete, schema.py:default_datatypes;
    REF §4 (PUT project 200, DELETE 200).
    """
    pid = _uid("PXP")
    proj = intf.select.project(pid)
    assert not proj.exists()
    proj.create()
    assert proj.exists()
    assert pid in intf.select.projects().get()
    proj.delete()
    assert not proj.exists()


def test_subject_experiment_scan_insert_and_exists(intf, project):
    """``insert()`` at each level with default types; ``exists()`` before/after; ``datatype()``.

    Source: PX resources.py:EObject.create (alias insert) with schema.py:default_datatypes
    (``xnat:subjectData``, ``xnat:mrSessionData``, ``xnat:mrScanData``), resources_test.py
    test_01..04; REF §4 (subject/experiment 201 + ID, scan 200).
    """
    subject = intf.select.project(project).subject("S1")
    experiment = subject.experiment("E1")
    scan = experiment.scan("7")

    assert not subject.exists()
    subject.insert()
    assert subject.exists()
    assert subject.id().startswith("XNAT_S")
    assert subject.label() == "S1"
    assert subject.datatype() == "xnat:subjectData"

    assert not experiment.exists()
    experiment.insert()
    assert experiment.exists()
    assert experiment.id().startswith("XNAT_E")
    assert experiment.label() == "E1"
    assert experiment.datatype() == "xnat:mrSessionData"

    assert not scan.exists()
    scan.insert()
    assert scan.exists()
    assert scan.id() == "7"
    assert scan.datatype() == "xnat:mrScanData"


def test_multi_level_create_with_pet_session_and_qc_assessor(intf, project):
    """One ``create(experiments='xnat:petSessionData', assessors='xnat:qcAssessmentData')`` on an assessor.

    Creates subject, PET session and QC assessor top-down, each with its own ``xsiType``;
    a scan created afterwards defaults to ``xnat:mrScanData``.
    Source: pyxnat tests/resources_test.py:test_06_multi_create; PX resources.py:EObject.create.
    """
    base = f"/projects/{project}/subjects/S1/experiments/PET1"
    assessor = intf.select(base + "/assessors/QC1")
    experiment = intf.select(base)

    assert not assessor.exists()
    assessor.create(experiments="xnat:petSessionData", assessors="xnat:qcAssessmentData")
    assert assessor.exists()
    assert assessor.datatype() == "xnat:qcAssessmentData"
    assert experiment.datatype() == "xnat:petSessionData"
    assert assessor.label() == "QC1"
    assert assessor.id().startswith("XNAT_E")

    scan = intf.select(base + "/scans/2").create()
    assert scan.datatype() == "xnat:mrScanData"


def test_collections_get_ids_and_labels(intf, project):
    """``project.subjects().get()`` returns accession IDs; ``get('label')`` returns labels.

    pyxnat quirk: ``CObject.get('label')`` switches ``_id_header`` only inside its loop, after
    the generator has started, so the first call on a fresh collection still yields IDs; the
    second call on the same collection yields labels (PX resources.py:CObject.get/__iter__).
    Source: REF §12.2 (get() = last URI segment = accession ID); PX resources.py:CObject._call
    (``?format=csv&columns=ID,xsiType`` or ``label,xsiType``).
    """
    proj = intf.select.project(project)
    for label in ("S1", "S2"):
        proj.subject(label).insert()
    ids = {proj.subject(label).id() for label in ("S1", "S2")}

    assert set(proj.subjects().get()) == ids
    collection = proj.subjects()
    collection.get("label")
    assert sorted(collection.get("label")) == ["S1", "S2"]
    assert sorted(s.label() for s in proj.subjects()) == ["S1", "S2"]

    proj.subject("S1").experiment("E1").insert()
    experiments = proj.subject("S1").experiments()
    assert experiments.get() == [proj.subject("S1").experiment("E1").id()]


def test_select_path_projects_star_subjects(intf, project):
    """``select('/projects/*/subjects').get()`` walks every project's subject table.

    Source: REF §12.2 (``GET /data/projects?format=csv&columns=ID,xsiType`` then per project
    ``GET /data/projects/{P}/subjects?format=csv&columns=ID,xsiType``); PX select.py:compute.
    """
    proj = intf.select.project(project)
    proj.subject("A1").insert()
    proj.subject("A2").insert()
    ids = {proj.subject("A1").id(), proj.subject("A2").id()}

    assert ids <= set(intf.select("/projects/*/subjects").get())
    assert set(intf.select(f"/projects/{project}/subjects").get()) == ids


def test_project_experiment_lookup_by_label(intf, project):
    """``project.experiment(label)`` resolves through ``/data/experiments`` and the project's experiments.

    ``Experiment('/data/projects/P/experiments/X')`` first GETs
    ``/data/experiments?xsiType=xnat:subjectAssessorData&ID=X&columns=ID,project,
    xnat:subjectAssessorData/subject_id&format=csv`` and needs headers ``subject_ID``/``project``;
    ``Project.experiment`` then re-selects by ID if the label was given.
    Source: PX resources.py:Project.experiment, Experiment.__init__, array.py:experiments;
    REF §8; pyxnat tests/resources_test.py:test_20_project.
    """
    proj = intf.select.project(project)
    proj.subject("S1").experiment("E1").insert()
    eid = proj.subject("S1").experiment("E1").id()

    by_label = proj.experiment("E1")
    assert by_label.id() == eid
    assert by_label.label() == "E1"
    by_id = proj.experiment(eid)
    assert by_id.exists()
    assert by_id._uri.endswith(f"/projects/{project}/subjects/{proj.subject('S1').id()}"
                               f"/experiments/{eid}")
    assert proj.experiments().get() == [eid]


# --------------------------------------------------------------------------- attributes


def test_subject_demographics_attrs_set_get_mset(intf, project):
    """Subject demographics through ``attrs``: xpath ``set``, shortcut ``get``, ``mset``, ``mget``.

    ``set`` → ``PUT {subject}?xsiType=xnat:subjectData&{xpath}={v}``; ``get`` →
    ``GET {subjects}?columns=ID,{path}&format=csv`` and the header closest to the path tail.
    Source: PX attributes.py:EAttrs.set/mset/get/mget; pyxnat tests/resources_test.py:test_13
    (age '26' reads back '26'); REF §3.2 (shortcuts ``gender``, ``age`` map to
    ``xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/...``; header = shortcut).
    """
    subject = intf.select.project(project).subject("S1")
    subject.insert()

    subject.attrs.set("xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender",
                      "female")
    assert subject.attrs.get("gender") == "female"

    subject.attrs.set("age", "26")
    assert subject.attrs.get("age") == "26"

    subject.attrs.mset({"gender": "male", "age": "30"})
    assert subject.attrs.mget(["gender", "age"]) == ["male", "30"]


def test_experiment_date_attrs(intf, project):
    """Experiment ``date`` via ``attrs.set`` (xpath) / ``attrs.get`` (shortcut) / ``mset``.

    Source: PX attributes.py:EAttrs; REF §3.2 (experiment shortcut ``date``), §3.3 (dates
    ``YYYY-MM-DD``).
    """
    experiment = intf.select.project(project).subject("S1").experiment("E1")
    experiment.insert()

    experiment.attrs.set("xnat:mrSessionData/date", "2024-03-05")
    assert experiment.attrs.get("date") == "2024-03-05"

    experiment.attrs.mset({"date": "2023-12-31", "xnat:mrSessionData/note": "pyxnat"})
    assert experiment.attrs.mget(["date", "note"]) == ["2023-12-31", "pyxnat"]


# --------------------------------------------------------------------------- files


def test_file_put_get_size_last_modified_delete(intf, project, payload, tmp_path):
    """A subject-resource file: ``put``, ``exists``, ``get(dest)`` byte-identical, ``size``,
    ``last_modified`` (HEAD ``last-modified``), ``delete``; then the resource's ``delete``.

    Source: PX resources.py:File.put/get/size/last_modified/delete, Resource (EObject.delete);
    pyxnat tests/resources_test.py:test_07..test_12; REF §5.1, §5.3 (HEAD with Last-Modified),
    §5.4 (listing ``URI`` / ``Size``).
    """
    subject = intf.select.project(project).subject("S1")
    subject.insert()
    resource = subject.resource("test")
    resource.file("hello.bin").put(str(payload))
    resource.file("dir/again.bin").put(str(payload))

    fresh = intf.select.project(project).subject("S1").resource("test").file("hello.bin")
    assert fresh.exists()
    assert int(fresh.size()) == payload.stat().st_size

    dest = tmp_path / "download.bin"
    assert fresh.get(str(dest)) == str(dest)
    assert dest.read_bytes() == payload.read_bytes()

    nested = intf.select.project(project).subject("S1").resource("test").file("dir/again.bin")
    assert nested.exists()
    nested_dest = tmp_path / "again.bin"
    nested.get(str(nested_dest))
    assert nested_dest.read_bytes() == payload.read_bytes()

    modified = fresh.last_modified()
    assert isinstance(modified, str) and modified
    assert email.utils.parsedate_to_datetime(modified) is not None

    fresh.delete()
    assert not intf.select.project(project).subject("S1").resource("test").file("hello.bin").exists()
    assert nested.exists()

    resource = intf.select.project(project).subject("S1").resource("test")
    assert resource.exists()
    resource.delete()
    assert not intf.select.project(project).subject("S1").resource("test").exists()


def test_file_put_again_keeps_or_overwrites(intf, project, tmp_path):
    """Re-uploading an existing file without ``overwrite`` is not an error and keeps the old bytes;
    ``overwrite=True`` replaces them.

    Source: REF §5.1 (existing file without overwrite → 200 ``{"duplicates":[...]}``, file
    unchanged); PX resources.py:File.put (raises only on non-2xx or an ``<html>`` body).
    """
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_bytes(b"first version\n")
    second.write_bytes(b"second, longer version\n")
    resource = intf.select.project(project).subject("S1").resource("dup")
    resource.file("note.txt").put(str(first))
    resource.file("note.txt").put(str(second))  # no overwrite: kept, no exception
    dest = tmp_path / "got.txt"
    resource.file("note.txt").get(str(dest))
    assert dest.read_bytes() == first.read_bytes()

    resource.file("note.txt").put(str(second), overwrite=True)
    resource.file("note.txt").get(str(dest))
    assert dest.read_bytes() == second.read_bytes()
    assert int(resource.file("note.txt").size()) == second.stat().st_size


def _hello_zip(tmp_path: Path) -> Path:
    """The zip of pyxnat's tests/hello_dir.zip: two files under ``hello_dir/``."""
    path = tmp_path / "hello_dir.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hello_dir/hello_xnat_dir.txt", "Hello XNAT dir!\n")
        zf.writestr("hello_dir/hello_dir2/hello_xnat_dir2.txt", "Hello XNAT dir2!\n")
    return path


def test_put_zip_with_and_without_extract(intf, project, tmp_path):
    """``Resource.put_zip(extract=True)`` unpacks under the resource root; ``extract=False`` stores the zip.

    pyxnat sends the extract flag by naming the file ``hello_dir.zip?extract=true``
    (PX resources.py:Resource.put_zip → File.put moves it into the query).
    Source: pyxnat tests/resources_test.py:test_17_put_zip; REF §5.1 (Extraction).
    """
    zip_path = _hello_zip(tmp_path)
    subject = intf.select.project(project).subject("S1")
    subject.insert()

    extracted = subject.resource("zip_extract")
    extracted.put_zip(str(zip_path), extract=True)
    assert extracted.exists()
    assert extracted.file("hello_dir/hello_xnat_dir.txt").exists()
    assert extracted.file("hello_dir/hello_dir2/hello_xnat_dir2.txt").exists()
    assert not extracted.file("hello_dir.zip").exists()
    # CObject.get() yields the last URI segment, i.e. file basenames (PX resources.py:CObject.get)
    assert sorted(extracted.files().get()) == ["hello_xnat_dir.txt", "hello_xnat_dir2.txt"]

    kept = subject.resource("zip_keep")
    kept.put_zip(str(zip_path), extract=False)
    assert kept.exists()
    assert kept.file("hello_dir.zip").exists()
    assert int(kept.file("hello_dir.zip").size()) == zip_path.stat().st_size


def test_resource_put_list_of_paths_extracts(intf, project, tmp_path):
    """``Resource.put([paths])`` zips the files and uploads the zip with ``extract=true``.

    pyxnat means to keep the common directory (arcroot ``/common``) but ``op.join(arcroot,
    '/a.txt')`` drops it, so the zip members are ``a.txt`` and ``b.txt`` at the resource root.
    Source: PX resources.py:Resource.put → put_zip; REF §5.1 (extraction under the resource root).
    """
    src = tmp_path / "common"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    (src / "b.txt").write_text("bb\n")
    subject = intf.select.project(project).subject("S1")
    subject.insert()
    resource = subject.resource("batch")
    resource.put([str(src / "a.txt"), str(src / "b.txt")])
    assert sorted(resource.files().get()) == ["a.txt", "b.txt"]
    assert resource.file("a.txt").exists() and resource.file("b.txt").exists()
    assert not resource.file("files.zip").exists() and not resource.file("common.zip").exists()


def test_resource_get_downloads_zip(intf, project, tmp_path):
    """``Resource.get(dest, extract=True)`` → ``GET {resource}/files?format=zip``; files land in ``dest/{label}/``.

    pyxnat moves each member to ``dest/{resource}/{text after the first 'files' + sep}``, so zip
    members must contain ``.../files/...`` (REF §5.5 layout
    ``{subjectLabel}/resources/{label}/files/{path}``).
    Source: PX resources.py:Resource.get; pyxnat tests/resources_test.py:test_18_get_zip.
    """
    zip_path = _hello_zip(tmp_path)
    subject = intf.select.project(project).subject("S1")
    subject.insert()
    resource = subject.resource("RZ")
    resource.put_zip(str(zip_path), extract=True)

    dest = tmp_path / "dl"
    dest.mkdir()
    members = resource.get(str(dest), extract=True)
    assert sorted(Path(m).relative_to(dest).as_posix() for m in members) == [
        "RZ/hello_dir/hello_dir2/hello_xnat_dir2.txt", "RZ/hello_dir/hello_xnat_dir.txt"]
    assert (dest / "RZ/hello_dir/hello_xnat_dir.txt").read_text() == "Hello XNAT dir!\n"
    assert (dest / "RZ/hello_dir/hello_dir2/hello_xnat_dir2.txt").read_text() == "Hello XNAT dir2!\n"
    assert not (dest / "S1").exists()  # pyxnat removed the zip's top directory

    dest2 = tmp_path / "dl2"
    dest2.mkdir()
    zip_location = resource.get(str(dest2), extract=False)
    assert zip_location == os.path.join(str(dest2), "RZ.zip")
    # pyxnat re-zips the extracted members relative to their common prefix (PX Resource.get)
    with zipfile.ZipFile(zip_location) as zf:
        assert sorted(zf.namelist()) == ["hello_dir2/hello_xnat_dir2.txt", "hello_xnat_dir.txt"]
        assert zf.read("hello_xnat_dir.txt") == b"Hello XNAT dir!\n"


def test_raw_zip_download_layout(intf, project, payload, http):
    """The zip pyxnat fetches for a scan resource has members ``{session}/scans/{id}-{type}/resources/{label}/files/{path}``.

    Source: REF §5.5 (entry path rule); PX resources.py:Resource.get (needs 'files' in member).
    """
    scan = intf.select.project(project).subject("S1").experiment("E1").scan("1")
    scan.resource("NIFTI").file("a/b.bin").put(str(payload))
    scan.attrs.set("type", "T1w")
    r = http.get(f"/data/projects/{project}/subjects/S1/experiments/E1/scans/1/resources/NIFTI"
                 "/files", params={"format": "zip"})
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.namelist() == ["E1/scans/1-T1w/resources/NIFTI/files/a/b.bin"]
        assert zf.read(zf.namelist()[0]) == payload.read_bytes()


@pytest.mark.parametrize("name", NIFTI_EXAMPLES)
def test_real_nifti_round_trip(intf, project, tmp_path, name):
    """A real NIFTI file (nibabel test data) uploaded to a scan's NIFTI resource comes back byte-identical.

    ``.nii.gz`` must not be gunzipped: pyxnat sends no ``extract`` (REF §5.1: only ``extract``
    triggers extraction).
    Source: PX resources.py:File.put/get; REF §5.1, §5.3.
    """
    src = _nifti_path(name)
    scan = intf.select.project(project).subject("S1").experiment("E1").scan("1")
    scan.resource("NIFTI").file(name).put(str(src), format="NIFTI", content="NIFTI_RAW",
                                          tags="T1")

    file_ = intf.select.project(project).subject("S1").experiment("E1").scan("1") \
        .resource("NIFTI").file(name)
    assert file_.exists()
    assert int(file_.size()) == src.stat().st_size
    assert file_.format() == "NIFTI"
    assert file_.content() == "NIFTI_RAW"
    dest = tmp_path / name
    file_.get(str(dest))
    assert dest.read_bytes() == src.read_bytes()

    nib = pytest.importorskip("nibabel")
    assert nib.load(str(dest)).shape == nib.load(str(src)).shape


# --------------------------------------------------------------------------- deletion


def test_delete_scan_experiment_subject(intf, project, payload):
    """``delete()`` at scan, experiment and subject level → ``DELETE {uri}?removeFiles=true`` (200).

    Source: PX resources.py:EObject.delete; REF §4 (DELETE subject/experiment/scan 200).
    """
    subject = intf.select.project(project).subject("S1")
    experiment = subject.experiment("E1")
    scan = experiment.scan("1")
    scan.resource("NIFTI").file("x.bin").put(str(payload))
    assert scan.exists()

    scan.delete()
    assert not scan.exists()
    assert experiment.exists()
    experiment.delete()
    assert not experiment.exists()
    assert subject.exists()
    subject.delete()
    assert not subject.exists()
    assert intf.select.project(project).subjects().get() == []

