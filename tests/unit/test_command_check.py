"""``xnat_container.command_check`` and ``xnat-container check-command``: the project's
command.json is clean, and each rule R1-R64 catches a small bad example."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xnat_container.cli import main
from xnat_container.command_check import (RULES, Problem, check_commands, check_label,
                                          check_path, escape_label)

ROOT = Path(__file__).resolve().parents[2]
COMMAND_JSON = ROOT / "command.json"

# A small command that passes every rule; each case below breaks it in one place.
BASE = {
    "name": "demo", "label": "Demo", "description": "A demo command", "version": "1.0",
    "schema-version": "1.0", "type": "docker", "image": "demo/img:1.0",
    "override-entrypoint": False,
    "command-line": "run #FLAG# #LABEL# --out /output",
    "mounts": [{"name": "in", "writable": False, "path": "/input"},
               {"name": "out", "writable": True, "path": "/output"}],
    "inputs": [
        {"name": "flag", "type": "boolean", "required": False, "default-value": "false",
         "replacement-key": "#FLAG#", "true-value": "--flag", "false-value": ""},
        {"name": "label", "type": "string", "required": True, "replacement-key": "#LABEL#",
         "command-line-flag": "--label"}],
    "outputs": [{"name": "result", "mount": "out", "required": True}],
    "xnat": [{
        "name": "demo-session", "label": "Demo", "contexts": ["xnat:imageSessionData"],
        "external-inputs": [{"name": "session", "type": "Session", "required": True,
                             "provides-files-for-command-mount": "in"}],
        "derived-inputs": [{"name": "session-label", "type": "string",
                            "derived-from-wrapper-input": "session",
                            "derived-from-xnat-object-property": "label",
                            "provides-value-for-command-input": "label",
                            "user-settable": False}],
        "output-handlers": [{"name": "result-resource", "accepts-command-output": "result",
                             "as-a-child-of": "session", "type": "Resource",
                             "label": "RESULT"}]}],
}


def cmd(**changes):
    c = copy.deepcopy(BASE)
    c.update(changes)
    return c


def with_(path_fn):
    """A copy of BASE changed in place by path_fn(command)."""
    c = copy.deepcopy(BASE)
    path_fn(c)
    return c


def wrapper(c):
    return c["xnat"][0]


def derived(c):
    return c["xnat"][0]["derived-inputs"][0]


def external(c):
    return c["xnat"][0]["external-inputs"][0]


def handler(c):
    return c["xnat"][0]["output-handlers"][0]


def add_input(**inp):
    def change(c):
        c["inputs"].append(inp)
        if "replacement-key" in inp:
            c["command-line"] += " " + inp["replacement-key"]
    return change


def add_derived(**inp):
    return lambda c: c["xnat"][0]["derived-inputs"].append(inp)


# rule -> (document, expected severity); the document is a list of commands or any JSON value
CASES = {
    "R1": (["not a command"], "E"),
    "R3": ([BASE, BASE], "E"),
    "R4": ([cmd(name=" ")], "E"),
    "R5": ([cmd(image="")], "E"),
    "R6": ([cmd(type="python")], "E"),
    "R7": ([cmd(visibility="Public")], "E"),
    "R8": ([cmd(**{"schema-version": "2"})], "W"),
    "R9": ([cmd(workdir="/tmp")], "W"),
    "R10": ([cmd(ulimits={"nofile": "1:2:3"})], "E"),
    "R11": ([cmd(**{"reserve-memory": 2048, "limit-memory": 1024})], "W"),
    "R12": ([cmd(ports={"80": "http"})], "W"),
    "R13": ([cmd(**{"command-line": ""})], "W"),
    "R14": ([cmd(**{"command-line": "run #FLAG# #LABEL# > /output/log"})], "W"),
    "R15": ([with_(lambda c: c["mounts"].append({"name": "in", "path": "/other"}))], "E"),
    "R16": ([with_(lambda c: c["mounts"][1].update(path="output"))], "W"),
    "R17": ([with_(lambda c: c["mounts"][1].update(writable="true"))], "W"),
    "R18": ([with_(lambda c: c["inputs"][0].update(name="bad name"))], "E"),
    "R19": ([with_(lambda c: c["inputs"][0].update(type="bool"))], "W"),
    "R20": ([with_(add_input(**{"name": "pick", "type": "select-one",
                                "replacement-key": "#PICK#"}))], "E"),
    "R21": ([with_(add_input(**{"name": "pick", "type": "select-one", "replacement-key": "#PICK#",
                                "select-values": ["a", "b"], "default-value": "c"}))], "E"),
    "R22": ([with_(lambda c: c["inputs"][1].update(**{"multiple-delimiter": "semicolon"}))], "E"),
    "R23": ([with_(lambda c: c["inputs"][0].update(**{"default-value": "yes"}))], "W"),
    "R24": ([with_(lambda c: c["inputs"].append({"name": "unused", "type": "string"}))], "W"),
    "R25": ([with_(add_input(**{"name": "flag2", "type": "string",
                                "replacement-key": "#FLAG#2"}))], "W"),
    "R26": ([cmd(**{"command-line": "run #FLAG# #LABEL# #NOPE#"})], "W"),
    "R27": ([with_(lambda c: c["inputs"][1].update(**{"user-settable": False}))], "W"),
    "R28": ([with_(lambda c: derived(c).update(required=False))], "W"),
    "R29": ([with_(add_input(**{"name": "password", "type": "string",
                                "replacement-key": "#PASSWORD#"}))], "W"),
    "R30": ([with_(lambda c: c["inputs"][1].update(**{"default-value": "a;b"}))], "W"),
    "R31": ([with_(lambda c: c["outputs"][0].update(name="bad name"))], "E"),
    "R32": ([with_(lambda c: c["outputs"][0].update(mount="nowhere"))], "E"),
    "R33": ([with_(lambda c: c["outputs"][0].pop("required"))], "W"),
    "R34": ([with_(lambda c: c["outputs"][0].update(mount="in"))], "W"),
    "R35": ([with_(lambda c: c["xnat"].append(copy.deepcopy(c["xnat"][0])))], "E"),
    "R36": ([with_(lambda c: wrapper(c).update(contexts=[]))], "W"),
    "R37": ([with_(lambda c: wrapper(c).pop("label"))], "W"),
    "R38": ([with_(lambda c: wrapper(c)["external-inputs"].append(
        {"name": "other", "type": "Session"}))], "W"),
    "R39": ([with_(lambda c: wrapper(c).update(contexts=["xnat:projectData"]))], "W"),
    "R40": ([with_(add_derived(name="session", type="string",
                               **{"derived-from-wrapper-input": "session-label"}))], "E"),
    "R41": ([with_(lambda c: external(c).update(type="session"))], "E"),
    "R42": ([with_(lambda c: derived(c).update(**{"derived-from-wrapper-input": "nope"}))], "E"),
    "R43": ([with_(lambda c: derived(c).update(**{"derived-from-xnat-object-property":
                                                  "bogus"}))], "W"),
    "R44": ([with_(lambda c: derived(c).update(**{"via-setup-command": "x/setup:1.0"}))], "E"),
    "R45": ([with_(lambda c: derived(c).update(multiple=True,
                                               **{"provides-files-for-command-mount": "out"}))],
            "E"),
    "R46": ([with_(lambda c: c["inputs"][1].update(**{"type": "select-one",
                                                      "select-values": ["a", "b"]}))], "E"),
    "R47": ([with_(lambda c: external(c).update(**{"provides-files-for-command-mount":
                                                   "nowhere"}))], "W"),
    "R48": ([with_(lambda c: derived(c).update(**{"provides-files-for-command-mount": "in"}))],
            "W"),
    "R49": ([with_(lambda c: (wrapper(c).update(contexts=["xnat:projectData"]),
                              external(c).update(name="project", type="Project"),
                              derived(c).update(**{"derived-from-wrapper-input": "project"}),
                              handler(c).update(**{"as-a-child-of": "project"})))], "W"),
    "R50": ([with_(lambda c: external(c).update(**{"user-settable": False}))], "W"),
    "R51": ([with_(lambda c: handler(c).update(name="bad name"))], "E"),
    "R52": ([with_(lambda c: handler(c).update(**{"accepts-command-output": "nothing"}))], "E"),
    "R53": ([with_(lambda c: handler(c).update(**{"as-a-child-of": "nope"}))], "E"),
    "R54": ([with_(lambda c: handler(c).update(label=""))], "E"),
    "R55": ([with_(lambda c: handler(c).update(**{"as-a-child-of": "session-label"}))], "E"),
    "R56": ([with_(lambda c: wrapper(c).update(**{"output-handlers": []}))], "E"),
    "R57": ([with_(lambda c: (add_derived(**{"name": "session-uri", "type": "string",
                                             "derived-from-wrapper-input": "session",
                                             "derived-from-xnat-object-property": "uri"})(c),
                              handler(c).update(**{"as-a-child-of": "session-uri"})))], "W"),
    "R58": ([with_(lambda c: handler(c).update(type="Assessor"))], "W"),
    "R59": ([with_(lambda c: handler(c).update(
        **{"as-a-child-of-wrapper-input": handler(c).pop("as-a-child-of")}))], "W"),
    "R60": ([cmd(secrets=[{"source": {"type": "environment", "identifier": "x"},
                           "destination": {"type": "environment-variable",
                                           "identifier": "REMOTE_PASS"}}])], "E"),
    "R61": ([cmd(secrets=[{"source": {"type": "system-property", "identifier": "x"},
                           "destination": {"type": "environment-variable",
                                           "identifier": "XNAT_USER"}}])], "E"),
    "R62": ([cmd(type="docker-setup")], "E"),
    "R63": ([cmd(**{"environment-variables": {"XNAT_HOST": "http://elsewhere"}})], "W"),
    "R64": ([with_(lambda c: (external(c).update(name="sess"),
                              derived(c).update(**{"derived-from-wrapper-input": "sess"}),
                              handler(c).update(**{"as-a-child-of": "sess"})))], "W"),
}


def test_base_example_is_clean():
    """The base of the bad examples passes every rule, so each case fails for its own reason."""
    assert check_commands([BASE]) == []


def test_our_command_json_is_clean():
    """command.json passes every rule, E and W alike: no line at all."""
    problems = check_commands(json.loads(COMMAND_JSON.read_text()))
    assert [str(p) for p in problems] == []


def test_every_rule_has_a_case():
    """Each of R1-R64 has a bad example here (R2 has its own test: it needs a Dockerfile)."""
    assert set(CASES) | {"R2"} == set(RULES)
    assert len(RULES) == 64


@pytest.mark.parametrize("rule", sorted(CASES, key=lambda r: int(r[1:])))
def test_rule_catches_bad_example(rule):
    """The bad example of the rule is reported under that rule, with its severity and a path
    into the document."""
    document, severity = CASES[rule]
    problems = [p for p in check_commands(document) if p.rule == rule]
    assert problems, f"{rule} not reported; got {[str(p) for p in check_commands(document)]}"
    assert any(p.severity == severity for p in problems)
    assert all(p.path.startswith("commands") for p in problems)


@pytest.mark.parametrize("document", ["text", 42, [1, 2], []])
def test_r1_rejects_non_commands(document):
    """R1: only a JSON object (one command) or an array of objects is a command document."""
    assert any(p.rule == "R1" and p.is_error for p in check_commands(document))


def test_single_object_is_accepted():
    """A file holding one command object is checked like a one-element array."""
    assert check_commands(copy.deepcopy(BASE)) == []


def test_r2_label_differs_from_file():
    """R2: a Dockerfile whose label is not the command file is reported; the same label is not."""
    good = f'FROM x\nLABEL org.nrg.commands="{escape_label([BASE])}"\n'
    assert check_label(good, [BASE]) == []
    stale = f'FROM x\nLABEL org.nrg.commands="{escape_label([cmd(version="0.9")])}"\n'
    assert [p.rule for p in check_label(stale, [BASE])] == ["R2"]
    object_label = f'FROM x\nLABEL org.nrg.commands="{escape_label(BASE)}"\n'
    assert "R1" in [p.rule for p in check_label(object_label, BASE)]


def test_r5_untagged_image_is_a_warning():
    """R5: an untagged image only warns (":latest" will be used); no image warns too."""
    for doc in ([cmd(image="demo/img")], [{k: v for k, v in BASE.items() if k != "image"}]):
        problems = check_commands(doc)
        assert [(p.rule, p.severity) for p in problems] == [("R5", "W")]


def test_r29_sensitive_input_on_command_line():
    """R29: a sensitive input whose key is on the command line is reported (env vars only)."""
    doc = [with_(add_input(**{"name": "token_value", "type": "string", "sensitive": True,
                              "replacement-key": "#TOK#"}))]
    assert any("command line" in p.message for p in check_commands(doc) if p.rule == "R29")


def test_file_input_copied_into_an_output_mount():
    """A file input lands in the first writable mount; if an output uploads that mount the
    upload is re-uploaded with it (reported under R34)."""
    doc = [with_(lambda c: (c["mounts"].__setitem__(0, {"name": "out2", "writable": True,
                                                        "path": "/o2"}),
                            c["outputs"].__setitem__(0, {"name": "result", "mount": "out2",
                                                         "required": True}),
                            external(c).pop("provides-files-for-command-mount"),
                            add_input(**{"name": "upload", "type": "file",
                                         "replacement-key": "#UPLOAD#"})(c)))]
    assert any(p.rule == "R34" and "first writable mount" in p.message
               for p in check_commands(doc))


def test_problem_line_format():
    """One line per problem: rule, JSON path, severity word, message."""
    line = str(Problem("R12", "commands[0].xnat[1].derived-inputs[0]", "broken"))
    assert line == "R12 commands[0].xnat[1].derived-inputs[0]: warning: broken"
    problems = check_commands([with_(lambda c: derived(c).update(
        **{"derived-from-wrapper-input": "nope"}))])
    assert any(str(p).startswith("R42 commands[0].xnat[0].derived-inputs[0]: error: ")
               for p in problems)


def test_cli_clean_file_exits_0():
    """`xnat-container check-command command.json --dockerfile Dockerfile` prints nothing on
    stdout and exits 0."""
    result = CliRunner().invoke(main, ["check-command", str(COMMAND_JSON),
                                       "--dockerfile", str(ROOT / "Dockerfile")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_cli_errors_exit_1_and_warnings_exit_0(tmp_path):
    """An E problem makes the exit code 1; warnings alone are printed and exit 0."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([cmd(name="")]))
    result = CliRunner().invoke(main, ["check-command", str(bad)])
    assert result.exit_code == 1
    assert result.stdout.startswith("R4 commands[0].name: error: ")
    warn = tmp_path / "warn.json"
    warn.write_text(json.dumps(cmd(workdir="/tmp")))
    result = CliRunner().invoke(main, ["check-command", str(warn)])
    assert result.exit_code == 0
    assert result.stdout.startswith("R9 commands[0].workdir: warning: ")


def test_cli_reads_a_dockerfile_label(tmp_path):
    """A Dockerfile given as FILE is checked through its org.nrg.commands label."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f'FROM x\nLABEL org.nrg.commands="{escape_label([cmd(type="x")])}"\n')
    assert [p.rule for p in check_path(dockerfile)] == ["R6"]
    result = CliRunner().invoke(main, ["check-command", str(dockerfile)])
    assert result.exit_code == 1


def test_cli_unreadable_file(tmp_path):
    """Neither JSON nor a Dockerfile: one error line and exit code 2, no traceback."""
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    result = CliRunner().invoke(main, ["check-command", str(junk)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
