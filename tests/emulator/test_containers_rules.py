"""Container Service rules without HTTP: validation, flags, replacement keys, derived
inputs, forbidden characters, mounts, secrets, matchers (container-service.md §1)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from xnat_emulator import containers as rules
from xnat_emulator import files, items
from xnat_emulator.store import Project, now_timestamp
from xnat_emulator.api.paths import Resolver
from xnat_emulator.app import Emulator
from xnat_emulator.config import EmulatorConfig
from xnat_emulator.items import Incoming


@pytest.fixture
def archive(tmp_path):
    """P1 / S1 / E1 (MR) with scan 1 (T1, DICOM/a/b.dcm) and a project resource NOTES."""
    emu = Emulator(EmulatorConfig(data_dir=tmp_path / "data"))
    who = emu.auth.principal("admin")
    el = emu.docs.new_element("xnat:projectData")
    el.set("ID", "P1")
    emu.store.create_project(Project("P1", "P1", "P1", "", "private", items.store_form(el),
                                     now_timestamp(), "admin"), [], "admin")
    emu.archive.put_subject(who, "P1", "S1", Incoming(None, {}, None))
    sid = emu.archive.put_experiment(who, "P1", "S1", "E1",
                                     Incoming(None, {}, "xnat:mrSessionData")).id
    session = emu.store.get_experiment(sid)
    emu.archive.put_scan(who, session, "1", Incoming(None, {"type": "T1"}, "xnat:mrScanData"))
    scan = emu.store.get_scan(sid, "1")
    res = emu.archive.put_resource("scan", str(scan.pk), "DICOM", {})
    files.receive_upload(emu.store, res, "a/b.dcm", io.BytesIO(b"DICM"), overwrite=False,
                         extract=False)
    notes = emu.archive.put_resource("project", "P1", "NOTES", {})
    files.receive_upload(emu.store, notes, "n.txt", io.BytesIO(b"n"), overwrite=False,
                         extract=False)
    catalog = rules.Catalog(emu.store, emu.docs, Resolver(emu.store, emu.auth, who))
    yield emu, catalog, sid
    emu.store.close()


def command(**changes):
    cmd = {
        "name": "t", "version": "1", "image": "x/y:1", "override-entrypoint": True,
        "command-line": "run #FLAG# #MSG# #NUM# #PROJ# #MANY# /in /out",
        "mounts": [{"name": "in", "path": "/in", "writable": "false"},
                   {"name": "out", "path": "/out", "writable": True}],
        "inputs": [
            {"name": "flag", "type": "boolean", "default-value": False,
             "command-line-flag": "-b", "true-value": "y", "false-value": "n",
             "replacement-key": "#FLAG#"},
            {"name": "msg", "type": "string", "command-line-flag": "--msg",
             "command-line-separator": "=", "replacement-key": "#MSG#"},
            {"name": "num", "type": "number", "default-value": "4", "replacement-key": "#NUM#",
             "command-line-flag": "-n"},
            {"name": "proj", "replacement-key": "#PROJ#"},
            {"name": "many", "type": "select-many", "select-values": ["a", "b", "c"],
             "multiple-delimiter": "comma", "command-line-flag": "--m",
             "replacement-key": "#MANY#"},
        ],
        "outputs": [{"name": "o", "mount": "out", "path": "rep", "required": True}],
        "environment-variables": {"MY_SCAN": "#scan-uri#", "MY_PROJ": "#PROJ#"},
        "xnat": [{
            "name": "w", "contexts": ["xnat:imageSessionData"],
            "external-inputs": [{"name": "session", "type": "Session",
                                 "provides-files-for-command-mount": "in"}],
            "derived-inputs": [
                {"name": "project", "type": "Project", "derived-from-wrapper-input": "session"},
                {"name": "pid", "type": "string", "derived-from-wrapper-input": "project",
                 "derived-from-xnat-object-property": "id",
                 "provides-value-for-command-input": "proj"},
                {"name": "scan", "type": "Scan", "derived-from-wrapper-input": "session",
                 "matcher": "'DICOM' in @.resources[*].label && @.scan-type in ['T1']"},
                {"name": "scan-uri", "type": "string", "derived-from-wrapper-input": "scan"},
            ],
            "output-handlers": [{"name": "h", "accepts-command-output": "o",
                                 "as-a-child-of": "session", "label": "REP"}]}],
    }
    cmd.update(changes)
    return rules.normalize_command(cmd)


def resolve(archive, tmp_path, params, cmd=None, props=None):
    emu, catalog, sid = archive
    cmd = cmd or command()
    return rules.resolve(cmd, cmd["xnat"][0], params, catalog, project="P1",
                         build_dir=tmp_path / "build", system_properties=props or {})


def test_normalize_coerces_string_booleans_and_defaults_tag():
    cmd = rules.normalize_command({"name": "n", "image": "repo/img",
                                   "mounts": [{"name": "m", "path": "/m", "writable": "true"}],
                                   "inputs": [{"name": "b", "default-value": False}]})
    assert cmd["image"] == "repo/img:latest" and cmd["type"] == "docker"
    assert cmd["mounts"][0]["writable"] is True
    assert cmd["inputs"][0]["default-value"] == "false"


def test_valid_command_has_no_errors():
    assert rules.validate_command(command()) == []


@pytest.mark.parametrize("change, message", [
    ({"name": " "}, "Command name cannot be blank."),
    ({"image": " "}, "image name cannot be blank."),
    ({"type": "podman"}, 'Cannot validate command of type "podman"'),
    ({"visibility": "Public"}, "has visibility set to an unknown value"),
    ({"outputs": [{"name": "o", "mount": "nope"}]}, 'references unknown mount "nope"'),
    ({"inputs": [{"name": "bad name"}]}, 'Command input "bad name" name should contain only'),
    ({"inputs": [{"name": "s", "type": "select-one"}]}, "doesn't list select-values"),
    ({"secrets": [{"source": {"type": "system-property", "identifier": "p"},
                   "destination": {"type": "environment-variable",
                                   "identifier": "XNAT_PASS"}}]},
     'Secrets use reserved environment variable name "XNAT_PASS"'),
])
def test_validation_messages(change, message):
    errors = rules.validate_command(command(**change))
    assert any(message in e for e in errors), errors


def test_every_output_handled_in_every_wrapper_and_derived_order():
    cmd = command()
    cmd["xnat"][0]["output-handlers"] = []
    assert any('command output "o" is not handled by any output handler.' in e
               for e in rules.validate_command(cmd))
    cmd = command()
    derived = cmd["xnat"][0]["derived-inputs"]
    derived.insert(0, derived.pop(1))  # pid before project
    assert any('is derived from an unknown XNAT input "project"' in e
               for e in rules.validate_command(cmd))


def test_command_line_values():
    b = {"name": "b", "type": "boolean", "command-line-flag": "-b", "true-value": "y",
         "false-value": "n"}
    assert rules._command_line_value(b, "true") == "-b y"
    assert rules._command_line_value(b, "TRUE") == "-b y"
    assert rules._command_line_value(b, "no") == "-b n"
    raw = {"name": "b", "type": "boolean"}
    assert rules._command_line_value(raw, "true") == "true"  # no true-value: passes through
    empty = {"name": "d", "type": "boolean", "true-value": "--dry-run", "false-value": ""}
    assert rules._command_line_value(empty, "false") == ""
    s = {"name": "s", "command-line-flag": "--s", "command-line-separator": "="}
    assert rules._command_line_value(s, "v") == "--s=v"
    assert rules._command_line_value(s, None) == ""
    many = {"name": "m", "type": "select-many", "command-line-flag": "-m",
            "multiple-delimiter": "flag"}
    assert rules._command_line_value(many, '["a","b"]') == "-m a -m b"
    many["multiple-delimiter"] = "quoted-space"
    assert rules._command_line_value(many, '["a","b"]') == '-m "a" "b"'


def test_resolution_derives_flags_replaces_and_mounts(archive, tmp_path):
    emu, catalog, sid = archive
    resolved = resolve(archive, tmp_path, {"session": sid, "flag": "true", "msg": "hello",
                                           "many": '["a","c"]'})
    assert resolved.command_line == ("run -b y --msg=hello -n 4 P1 --m a,c /in /out")
    assert resolved.input("project").value == "/archive/projects/P1"
    assert resolved.input("scan").value == f"/archive/experiments/{sid}/scans/1"
    assert resolved.environment == {"MY_SCAN": f"/archive/experiments/{sid}/scans/1",
                                    "MY_PROJ": "P1"}
    mounts = {m.name: m for m in resolved.mounts}
    assert mounts["in"].files == ["SCANS/1/DICOM/a/b.dcm"] and not mounts["in"].writable
    assert (mounts["in"].host_path / "SCANS/1/DICOM/a/b.dcm").read_bytes() == b"DICM"
    assert not os.access(mounts["in"].host_path, os.W_OK) or os.geteuid() == 0
    assert mounts["out"].writable and list(mounts["out"].host_path.iterdir()) == []
    out = resolved.outputs[0]
    assert (out.label, out.parent_input, out.path) == ("REP", "session", "rep")
    argv = rules.build_argv(resolved, None)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2].endswith(f"{mounts['in'].host_path} {mounts['out'].host_path}")
    rules.make_writable(tmp_path / "build")


def test_external_input_by_uri_id_and_label_paths(archive, tmp_path):
    emu, catalog, sid = archive
    for value in (sid, f"/archive/experiments/{sid}", "/archive/projects/P1/subjects/S1/"
                  "experiments/E1", f"/data/experiments/{sid}"):
        assert catalog.resolve(value, "Session").uri == f"/archive/experiments/{sid}"
    with pytest.raises(rules.ResolutionError, match="Could not instantiate Session"):
        catalog.resolve("/archive/experiments/NOPE", "Session")
    with pytest.raises(rules.ResolutionError):
        catalog.resolve("/archive/projects/P1", "Session")


@pytest.mark.parametrize("bad", [";", "&&", "||", "`", "("])
def test_forbidden_strings_fail_resolution(archive, tmp_path, bad):
    emu, catalog, sid = archive
    with pytest.raises(rules.ResolutionError) as exc:
        resolve(archive, tmp_path, {"session": sid, "msg": f"a{bad}b"})
    assert str(exc.value) == f'Input "msg" has a value containing illegal string "{bad}".'
    rules.make_writable(tmp_path / "build")


def test_required_inputs_and_defaults(archive, tmp_path):
    emu, catalog, sid = archive
    with pytest.raises(rules.ResolutionError, match='Input "session" is required'):
        resolve(archive, tmp_path, {})
    cmd = command()
    cmd["inputs"][1]["required"] = True
    with pytest.raises(rules.ResolutionError, match='Command input "msg" is required'):
        resolve(archive, tmp_path, {"session": sid}, cmd)
    rules.make_writable(tmp_path / "build")


def test_wrapper_value_beats_runtime_value(archive, tmp_path):
    emu, catalog, sid = archive
    resolved = resolve(archive, tmp_path, {"session": sid, "proj": "OTHER"})
    assert resolved.input("proj").value == "P1"  # default < runtime < wrapper input
    rules.make_writable(tmp_path / "build")


def test_secrets_and_guard(archive, tmp_path):
    emu, catalog, sid = archive
    secret = [{"source": {"type": "system-property", "identifier": "a.b"},
               "destination": {"type": "environment-variable", "identifier": "MY_SECRET"}}]
    cmd = command(secrets=secret)
    with pytest.raises(rules.ResolutionError, match="Did not obtain value for secret"):
        resolve(archive, tmp_path, {"session": sid}, cmd)
    resolved = resolve(archive, tmp_path / "2", {"session": sid}, cmd, {"a.b": "pw"})
    assert resolved.secrets == {"MY_SECRET": "pw"}
    env = rules.build_environment(resolved, host="http://h", user="u", password="p",
                                  workflow_id="7", event_id="7", base={})
    assert env["MY_SECRET"] == "pw" and env["XNAT_USER"] == "u" and env["XNAT_HOST"] == "http://h"
    with pytest.raises(rules.ResolutionError, match='refers to secret destination "MY_SECRET"'):
        resolve(archive, tmp_path / "3", {"session": sid, "msg": "$MY_SECRET"}, cmd,
                {"a.b": "pw"})
    for d in ("build", "2/build", "3/build"):
        rules.make_writable(tmp_path / d)


def test_project_mount_layout_and_resource_derivation(archive, tmp_path):
    emu, catalog, sid = archive
    project = catalog.resolve("P1", "Project")
    assert sorted(catalog.copy_files(project, tmp_path / "p")) == [
        "arc001/E1/SCANS/1/DICOM/a/b.dcm", "resources/NOTES/n.txt"]
    resources = catalog.derive(project, "Resource")
    assert [r.label for r in resources] == ["NOTES"]
    assert catalog.derive(resources[0], "Project") == []  # not in the derivation matrix
    subject = catalog.derive(catalog.resolve(sid, "Session"), "Subject")[0]
    assert subject.label == "S1"
    with pytest.raises(rules.ResolutionError, match="Subject cannot be mounted"):
        catalog.copy_files(subject, tmp_path / "s")


def test_matchers():
    data = {"label": "DICOM", "scan-type": "T1", "resources": [{"label": "DICOM"},
                                                              {"label": "SNAP"}], "n": 3}
    assert rules.matches("@.label == 'DICOM'", data)
    assert rules.matches("'SNAP' in @.resources[*].label", data)
    assert not rules.matches("'NIFTI' in @.resources[*].label", data)
    assert rules.matches("@.scan-type in ['T1', 'MPRAGE'] && @.n > 2", data)
    assert rules.matches("@.label =~ /^dic/i || @.n == 0", data)
    assert not rules.matches("@.label != 'DICOM'", data)
    assert not rules.matches("this is not (jsonpath", data)
    assert rules.matches(None, data)


def test_default_entrypoint_runs_xnat_container_with_this_python():
    resolved = rules.ResolvedCommand(
        {"override-entrypoint": False}, {}, None, {}, [], "xnat-container copy --x '/a b'",
        {}, {}, [], [], None, None)
    assert rules.build_argv(resolved, None) == [sys.executable, "-m", "xnat_container", "copy",
                                                "--x", "/a b"]
    resolved.command_line = "copy --x"  # a subcommand alone: the entrypoint adds the program
    assert rules.build_argv(resolved, None)[:3] == [sys.executable, "-m", "xnat_container"]
    resolved.command_line = "sh -c true"
    assert rules.build_argv(resolved, None) == ["sh", "-c", "true"]
    assert rules.build_argv(resolved, ["tini", "--"]) == ["tini", "--", "sh", "-c", "true"]


def test_translate_paths_only_whole_path_segments():
    m = rules.ResolvedMount("out", "/output", __import__("pathlib").Path("/tmp/o"), True)
    assert rules.translate_paths("--dir /output/x --y=/output /outputs /a/output", [m]) == \
        "--dir /tmp/o/x --y=/tmp/o /outputs /a/output"
