"""Static checks of XNAT Container Service command documents (``command.json``).

The rules R1-R64 are the "Checkable rules" of ``container-service.md`` (the project's reference
for the Container Service, read from its code at v3.7.3). Severity ``E``: the server rejects the
command (``Command.validate()``, entity parsing). Severity ``W``: the server accepts it, but it
breaks or misbehaves at launch, at finalisation or in the UI.

What cannot be decided from the command document alone is said next to the rule that touches
it (search for "not checkable"). In short: R2 needs the Dockerfile (``--dockerfile``); R12 and
R16 cannot evaluate templates; R30 sees only default values, not what users type; R58 cannot
see how many ``.xml`` files a job will write; R64 cannot know which wrappers a site automates,
so it checks every session/scan wrapper.

``check_commands(data)`` returns a list of :class:`Problem`; ``main()`` is
``xnat-container check-command``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Container, Iterable

# rule -> (severity, summary). A rule with two severities (R5, R44, R46) is listed by its worst.
RULES: dict[str, tuple[str, str]] = {
    "R1": ("E", "the label value is a JSON array of command objects"),
    "R2": ("W", "the Dockerfile label equals command.json"),
    "R3": ("E", "(name, image, version) is unique"),
    "R4": ("E", "name is a non-blank string"),
    "R5": ("E", "image is non-blank and tagged"),
    "R6": ("E", "type is docker, docker-setup or docker-wrapup"),
    "R7": ("E", "visibility is public, private or protected"),
    "R8": ("W", "schema-version is 1.0 and version is set"),
    "R9": ("W", "no unknown top-level keys"),
    "R10": ("E", "ulimits are 'limit' or 'soft:hard'"),
    "R11": ("W", "memory limits are integers (MiB), limit-cpu > 0, reserve <= limit"),
    "R12": ("W", "ports are numeric strings"),
    "R13": ("W", "command-line is set for docker commands"),
    "R14": ("W", "shell syntax in command-line needs override-entrypoint"),
    "R15": ("E", "mounts have a name and a path; names are unique"),
    "R16": ("W", "mount paths are absolute and distinct"),
    "R17": ("W", "mount writable is a JSON boolean"),
    "R18": ("E", "command input names are valid and unique"),
    "R19": ("W", "command input type is known"),
    "R20": ("E", "select types have select-values, other types none"),
    "R21": ("E", "a select default is one of the select-values"),
    "R22": ("E", "multiple-delimiter is known"),
    "R23": ("W", "boolean inputs default to true/false and map their values"),
    "R24": ("W", "every input's replacement key is used"),
    "R25": ("W", "no replacement key is a substring of another"),
    "R26": ("W", "every #KEY# of command-line is a command input's key"),
    "R27": ("W", "no keys that command inputs do not have"),
    "R28": ("W", "required command inputs get a value"),
    "R29": ("W", "secrets are sensitive and stay off the command line"),
    "R30": ("W", "default values contain no character XNAT refuses"),
    "R31": ("E", "output names are valid and unique"),
    "R32": ("E", "an output's mount is a declared mount"),
    "R33": ("W", "output required is explicit; glob is ignored"),
    "R34": ("W", "an output mount is not filled with input files"),
    "R35": ("E", "wrapper names are non-blank and unique"),
    "R36": ("W", "contexts are non-empty XSI types or 'site'"),
    "R37": ("W", "wrappers have a label or a description"),
    "R38": ("W", "one external input (none for site wrappers)"),
    "R39": ("W", "the first external input's type matches the contexts"),
    "R40": ("E", "wrapper input names are valid and unique"),
    "R41": ("E", "wrapper input type is known"),
    "R42": ("E", "derived inputs derive from an earlier input"),
    "R43": ("W", "the derivation is implemented"),
    "R44": ("E", "via-setup-command needs provides-files-for-command-mount"),
    "R45": ("E", "multiple:true inputs only provide values"),
    "R46": ("E", "provides-value-for-command-input names a non-select command input"),
    "R47": ("W", "provides-files-for-command-mount names a mount; the input is mountable"),
    "R48": ("W", "at most one input provides files to a mount"),
    "R49": ("W", "Project inputs set load-children false unless children are derived"),
    "R50": ("W", "user-settable:false inputs have a default or are derived"),
    "R51": ("E", "output handler names are valid and unique"),
    "R52": ("E", "accepts-command-output names a command output"),
    "R53": ("E", "as-a-child-of names a wrapper input or an earlier handler"),
    "R54": ("E", "handler type is Resource, Assessor or Scan; Resource has a label"),
    "R55": ("E", "the handler's parent resolves to one URI"),
    "R56": ("E", "every command output is handled in every wrapper"),
    "R57": ("W", "a Resource handler's parent is an XNAT object"),
    "R58": ("W", "Assessor/Scan handlers set xsi-type"),
    "R59": ("W", "as-a-child-of rather than the legacy key"),
    "R60": ("E", "secrets are system-property -> environment-variable with identifiers"),
    "R61": ("E", "secret env names are not reserved and do not collide"),
    "R62": ("E", "setup/wrapup commands declare no inputs, outputs, mounts, ..."),
    "R63": ("W", "environment-variables do not redefine XNAT_*"),
    "R64": ("W", "session/scan wrappers name their external input session/scan"),
}

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
IMAGE_RE = re.compile(r"^.+:[a-zA-Z0-9_.-]+$")
SETUP_REF_RE = re.compile(r"^[\w.-]+(?::\d+)?(?:/[\w.-]+)+:[\w.-]+(?::[\w .-]+)?$")
HASH_KEY_RE = re.compile(r"#[^#\s]+#")
JSONPATH_TEMPLATE_RE = re.compile(r"\^[^^]*\^")

COMMAND_TYPES = {"docker", "docker-setup", "docker-wrapup"}
VISIBILITIES = {"public", "private", "protected"}
TOP_LEVEL_KEYS = {
    "name", "label", "description", "version", "schema-version", "info-url", "image", "type",
    "index", "hash", "container-name", "working-directory", "command-line", "command-metadata",
    "override-entrypoint", "mounts", "environment-variables", "ports", "inputs", "outputs",
    "xnat", "reserve-memory", "limit-memory", "limit-cpu", "runtime", "ipcMode", "ulimits",
    "auto-remove", "shm-size", "network", "container-labels", "gpus", "generic-resources",
    "secrets", "visibility",
}
KNOWN_BAD_TOP_LEVEL = {
    "workdir": "is not read; use working-directory",
    "datatype": "is not read; use type",
    "ipc-mode": "is not read by the creator, which reads ipcMode",
}
INPUT_TYPES = {"string", "boolean", "number", "select-one", "select-many", "file"}
SELECT_TYPES = {"select-one", "select-many"}
DELIMITERS = {"quoted-space", "space", "comma", "flag"}
COMMAND_INPUT_KEYS = {
    "name", "label", "description", "type", "required", "matcher", "default-value",
    "replacement-key", "command-line-flag", "command-line-separator", "true-value",
    "false-value", "sensitive", "select-values", "multiple-delimiter",
}
WRAPPER_ONLY_KEYS = {
    "user-settable", "parser", "multiple", "load-children", "provides-value-for-command-input",
    "provides-files-for-command-mount", "via-setup-command", "derived-from-wrapper-input",
    "derived-from-xnat-object-property",
}
ILLEGAL_STRINGS = (";", "&&", "||", "`", "(")
WRAPPER_INPUT_TYPES = {
    "string", "boolean", "number", "Directory", "File", "File[]", "Project", "ProjectAsset",
    "Subject", "SubjectAssessor", "Session", "Scan", "Assessor", "Resource", "Config", "file",
}
XNAT_OBJECT_TYPES = {"Project", "ProjectAsset", "Subject", "SubjectAssessor", "Session", "Scan",
                     "Assessor", "Resource"}
MOUNTABLE_TYPES = {"Project", "ProjectAsset", "SubjectAssessor", "Session", "Scan", "Assessor",
                   "Resource", "File"}
# derived type -> parent types the resolver implements (CRS resolveDerivedWrapperInput)
DERIVATIONS = {
    "string": {"Project", "ProjectAsset", "Subject", "SubjectAssessor", "Session", "Scan",
               "Assessor", "File", "Resource"},
    "Directory": {"Resource"},
    "File": {"Resource"},
    "File[]": {"Resource"},
    "Project": {"ProjectAsset", "Subject", "Session", "Scan", "Assessor", "SubjectAssessor"},
    "ProjectAsset": {"Project"},
    "Subject": {"Project", "Session", "SubjectAssessor"},
    "SubjectAssessor": {"Subject"},
    "Session": {"Subject", "Scan", "Assessor"},
    "Scan": {"Session", "Resource"},
    "Assessor": {"Session"},
    "Resource": {"Project", "ProjectAsset", "Subject", "Session", "Scan", "Assessor",
                 "SubjectAssessor"},
}
COMMON_PROPERTIES = {"id", "label", "xsiType", "uri", "directory"}
PROPERTIES = {
    "Project": {"resources", "subjects", "project-assets", "title", "running-title",
                "description", "keywords", "accessibility", "aliases"},
    "Subject": {"project-id", "group", "source", "initials", "subject-assessors",
                "datatype-string"},
    "Session": {"project-id", "subject-id", "shared-from-project-id", "visit-id",
                "datatype-string", "scans", "assessors", "resources"},
    "Scan": {"integer-id", "scan-type", "series-description", "project-id", "session-id",
             "start-time", "scanner-manufacturer", "scanner-model", "scanner-software-version",
             "datatype-string"},
    "Resource": {"integer-id", "parent-uri", "files", "datatype-string"},
    "Assessor": {"project-id", "session-id", "datatype-string"},
}
# a derived input of these types, or a string of these properties, needs a Project's children
PROJECT_CHILD_TYPES = {"Subject", "ProjectAsset", "Resource"}
PROJECT_CHILD_PROPERTIES = {"resources", "subjects", "project-assets"}
HANDLER_TYPES = {"Resource", "Assessor", "Scan"}
RESERVED_ENV = {"XNAT_USER", "XNAT_PASS", "XNAT_HOST"}
CS_ENV = RESERVED_ENV | {"XNAT_WORKFLOW_ID", "XNAT_EVENT_ID"}
SECRET_NAME_RE = re.compile(r"pass(word|wd)?|secret|token|api[-_]?key|credential", re.I)
SHELL_SYNTAX = (("$", "a $ variable"), ("|", "a pipe"), (">", "a redirection"),
                ("<", "a redirection"), ("&&", "&&"), ("`", "a backquote"))
LABEL_MARK_BEGIN = "# BEGIN org.nrg.commands"
LABEL_MARK_END = "# END org.nrg.commands"


@dataclass(frozen=True)
class Problem:
    rule: str
    path: str
    message: str
    severity: str = ""

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", RULES[self.rule][0])

    @property
    def is_error(self) -> bool:
        return self.severity == "E"

    def __str__(self) -> str:
        kind = "error" if self.is_error else "warning"
        return f"{self.rule} {self.path}: {kind}: {self.message}"


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _as_bool(value: Any, default: bool) -> bool:
    """Jackson's view: JSON booleans, and the strings "true"/"false" coerced."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return default


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[tuple[int, dict]]:
    return [(i, v) for i, v in enumerate(_list(value)) if isinstance(v, dict)]


def _key(inp: dict) -> str:
    """The effective replacement key: ``replacement-key`` or ``#name#``."""
    key = inp.get("replacement-key")
    return key if isinstance(key, str) and key else f"#{inp.get('name', '')}#"


def _default_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else image + ":latest"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, rule: str, path: str, message: str) -> None:
        self.problems.append(Problem(rule, path, message))

    def warn(self, rule: str, path: str, message: str) -> None:
        """The W part of a rule whose summary severity is E (R5, R44, R46)."""
        self.problems.append(Problem(rule, path, message, "W"))

    def _name_ok(self, rule: str, where: str, name: Any, seen: Container[str], *, blank: str,
                 kind: str, repeated: str) -> bool:
        """Command inputs and outputs, wrapper inputs and handlers share the server's name rule:
        non-blank, NAME_RE, unique (R18, R31, R40, R51). Reports the first breach; True if none."""
        if _blank(name):
            self.add(rule, where, blank)
        elif not NAME_RE.match(name):
            self.add(rule, where, f"{kind} {name!r} name should contain only alphanumeric, _ "
                     "and - characters.")
        elif name in seen:
            self.add(rule, where, f"{repeated} {name!r} is not unique.")
        else:
            return True
        return False

    # ---------------------------------------------------------------- document level
    def check_document(self, data: Any) -> list[dict]:
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            self.add("R1", "commands", f"expected a JSON array of commands, got {type(data).__name__}")
            return []
        if not data:
            self.add("R1", "commands", "the array holds no command")
        commands = []
        for i, item in enumerate(data):
            if isinstance(item, dict):
                commands.append((i, item))
            else:
                self.add("R1", f"commands[{i}]", f"a command must be a JSON object, got "
                         f"{type(item).__name__}")
        seen: dict[tuple, int] = {}
        for i, cmd in commands:
            image = cmd.get("image")
            triple = (cmd.get("name"),
                      _default_tag(image) if isinstance(image, str) and image else image,
                      cmd.get("version"))
            try:
                hash(triple)
            except TypeError:
                continue
            if triple in seen:
                self.add("R3", f"commands[{i}]", f"(name, image, version) {triple!r} duplicates "
                         f"commands[{seen[triple]}]: the second is refused as a duplicate")
            else:
                seen[triple] = i
        for i, cmd in commands:
            self.check_command(cmd, f"commands[{i}]")
        return [cmd for _, cmd in commands]

    # ---------------------------------------------------------------- one command
    def check_command(self, cmd: dict, at: str) -> None:
        if _blank(cmd.get("name")):
            self.add("R4", f"{at}.name", "Command name cannot be blank.")
        self._image(cmd, at)
        ctype = cmd.get("type", "docker")
        if ctype is None:
            ctype = "docker"
        if ctype not in COMMAND_TYPES:
            self.add("R6", f"{at}.type", f"unknown type {ctype!r}; known types: "
                     + ", ".join(sorted(COMMAND_TYPES)))
        if "visibility" in cmd and cmd["visibility"] not in VISIBILITIES:
            self.add("R7", f"{at}.visibility", f"{cmd['visibility']!r} is not one of public, "
                     "private, protected (lower-case, exact)")
        if cmd.get("schema-version") != "1.0":
            self.add("R8", f"{at}.schema-version", f"should be \"1.0\", got "
                     f"{cmd.get('schema-version')!r}")
        if _blank(cmd.get("version")):
            self.add("R8", f"{at}.version", "version should be a non-empty string (it is part "
                     "of the command's unique key)")
        for key in cmd:
            if key in KNOWN_BAD_TOP_LEVEL:
                self.add("R9", f"{at}.{key}", f"{key!r} {KNOWN_BAD_TOP_LEVEL[key]}")
            elif key not in TOP_LEVEL_KEYS:
                self.add("R9", f"{at}.{key}", f"unknown key {key!r} is ignored by the server")
        self._resources(cmd, at)
        cmdline = cmd.get("command-line")
        if ctype == "docker" and _blank(cmdline):
            self.add("R13", f"{at}.command-line", "a docker command needs a command-line")
        if isinstance(cmdline, str) and not _as_bool(cmd.get("override-entrypoint"), False):
            bare = JSONPATH_TEMPLATE_RE.sub("", cmdline)
            for token, what in SHELL_SYNTAX:
                if token in bare:
                    self.add("R14", f"{at}.command-line", f"contains {what} ({token!r}) but "
                             "override-entrypoint is not true: the line is split into "
                             "arguments without a shell")
                    break

        mounts = self._mounts(cmd, at)
        inputs = self._inputs(cmd, at)
        outputs = self._outputs(cmd, at, mounts)
        self._secrets(cmd, at)
        env = cmd.get("environment-variables")
        if isinstance(env, dict):
            for name in env:
                if name in CS_ENV:
                    self.add("R63", f"{at}.environment-variables.{name}", f"{name} is set by "
                             "the Container Service; do not define it")
        if ctype in ("docker-setup", "docker-wrapup"):
            for key in ("mounts", "inputs", "outputs", "xnat", "environment-variables", "ports",
                        "secrets"):
                if cmd.get(key):
                    self.add("R62", f"{at}.{key}", f"a {ctype} command cannot declare {key!r}")

        wrappers = _dicts(cmd.get("xnat"))
        self._wrapper_names(cmd, at)
        self._replacement_keys(cmd, at, inputs, wrappers)
        for w, wrapper in wrappers:
            self.check_wrapper(cmd, wrapper, f"{at}.xnat[{w}]", inputs, outputs, mounts)
        self._mount_fill(cmd, at, mounts, outputs, inputs, wrappers)

    def _image(self, cmd: dict, at: str) -> None:
        if "image" not in cmd or cmd["image"] is None:
            self.warn("R5", f"{at}.image", "no image: it must come from the image label or "
                      "POST /xapi/commands?image=repo/name:tag (untagged names fail there)")
            return
        image = cmd["image"]
        if _blank(image):
            self.add("R5", f"{at}.image", "image name cannot be blank.")
            return
        tagged = _default_tag(image)
        if tagged != image:
            self.warn("R5", f"{at}.image", f"{image!r} has no tag: \":latest\" will be used")
        if not IMAGE_RE.match(tagged):
            self.add("R5", f"{at}.image", f"{image!r}: image name must include version tag. "
                     "e.g. image_name:tag")

    def _resources(self, cmd: dict, at: str) -> None:
        ulimits = cmd.get("ulimits")
        if isinstance(ulimits, dict):
            for name, value in ulimits.items():
                if not isinstance(value, str) or not value.strip() or value.count(":") > 1:
                    self.add("R10", f"{at}.ulimits.{name}", f"incorrect ulimit format: {value!r}. "
                             "Should be \"limit\" or \"softlimit:hardlimit\"")
        mem = {}
        for key in ("reserve-memory", "limit-memory"):
            if key in cmd:
                value = cmd[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    self.add("R11", f"{at}.{key}", f"{key} should be an integer number of MiB, "
                             f"got {value!r}")
                else:
                    mem[key] = value
        if len(mem) == 2 and mem["reserve-memory"] > mem["limit-memory"]:
            self.add("R11", f"{at}.reserve-memory", "reserve-memory is larger than limit-memory")
        if "limit-cpu" in cmd:
            cpu = cmd["limit-cpu"]
            if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or cpu <= 0:
                self.add("R11", f"{at}.limit-cpu", f"limit-cpu should be a number > 0, got {cpu!r}")
        ports = cmd.get("ports")
        if isinstance(ports, dict):
            # A template ("#PORT#") can only be judged at launch: not checkable statically.
            for key, value in ports.items():
                for what, text in (("container port", key), ("host port", value)):
                    if isinstance(text, str) and ("#" in text or "^" in text):
                        continue
                    if not isinstance(text, str) or not text.isdigit():
                        self.add("R12", f"{at}.ports.{key}", f"{what} {text!r} is not a number: "
                                 "Integer.parseInt fails at launch")

    def _mounts(self, cmd: dict, at: str) -> dict[str, dict]:
        mounts: dict[str, dict] = {}
        paths: dict[str, str] = {}
        for m, mount in _dicts(cmd.get("mounts")):
            where = f"{at}.mounts[{m}]"
            name = mount.get("name")
            if _blank(name):
                self.add("R15", where, "Mount name cannot be blank.")
            elif name in mounts:
                self.add("R15", where, f"mount name {name!r} is not unique.")
            else:
                mounts[name] = mount
            path = mount.get("path")
            if _blank(path):
                self.add("R15", where, f"Mount {name!r} path cannot be blank.")
            else:
                # A templated path is resolved at launch: only its literal start is judged here.
                if not path.startswith("/") and not path.startswith("#"):
                    self.add("R16", where, f"path {path!r} is not absolute")
                norm = path.rstrip("/") or "/"
                if norm in paths:
                    self.add("R16", where, f"path {path!r} is also the path of mount "
                             f"{paths[norm]!r}")
                else:
                    paths[norm] = name
            if "writable" in mount and not isinstance(mount["writable"], bool):
                self.add("R17", where, f"writable should be a JSON boolean, got "
                         f"{mount['writable']!r}")
        return mounts

    def _inputs(self, cmd: dict, at: str) -> dict[str, tuple[str, dict]]:
        inputs: dict[str, tuple[str, dict]] = {}
        for n, inp in _dicts(cmd.get("inputs")):
            where = f"{at}.inputs[{n}]"
            name = inp.get("name")
            self._name_ok("R18", where, name, inputs,
                          blank="Command input name cannot be blank", kind="Command input",
                          repeated="input name")
            if isinstance(name, str) and name not in inputs:
                inputs[name] = (where, inp)
            itype = inp.get("type", "string") or "string"
            if itype not in INPUT_TYPES:
                self.add("R19", f"{where}.type", f"unknown type {itype!r} is stored as string")
            values = inp.get("select-values")
            if itype in SELECT_TYPES and not values:
                self.add("R20", where, f"Command input {name!r} is designated as type "
                         f"{itype!r} but doesn't list select-values.")
            if itype not in SELECT_TYPES and values:
                self.add("R20", where, f"Command input {name!r} has select-values set, but is "
                         "not a select type.")
            default = inp.get("default-value")
            if values and isinstance(values, list) and default not in (None, ""):
                self._select_default(where, name, itype, default, values)
            delim = inp.get("multiple-delimiter")
            if delim is not None and delim not in DELIMITERS:
                self.add("R22", where, f"Invalid multiple-delimiter {delim!r}, choose from: "
                         + ", ".join(sorted(DELIMITERS)))
            if itype == "boolean":
                if default is not None and not isinstance(default, bool) and \
                        str(default).strip().lower() not in ("true", "false"):
                    self.add("R23", where, f"boolean default {default!r} is neither true nor false")
                if inp.get("true-value") is None and inp.get("false-value") is None:
                    self.add("R23", where, "boolean input without true-value/false-value: the "
                             "raw string \"true\"/\"false\" is passed")
            for key in inp:
                if key in WRAPPER_ONLY_KEYS:
                    self.add("R27", f"{where}.{key}", f"{key!r} belongs to wrapper inputs; it is "
                             "ignored on a command input")
                elif key not in COMMAND_INPUT_KEYS:
                    self.add("R27", f"{where}.{key}", f"unknown command input key {key!r}")
            self._default_chars(where, inp)
        return inputs

    def _select_default(self, where, name, itype, default, values) -> None:
        if itype == "select-many" and isinstance(default, str) and default.startswith("["):
            try:
                chosen = json.loads(default)
            except ValueError:
                chosen = [default]
            missing = [v for v in _list(chosen) if v not in values]
            if missing:
                self.add("R21", where, f"Command input {name!r} one or more default values in "
                         f"{default!r} is not in the list of select-values {values!r}")
        elif str(default) not in [str(v) for v in values]:
            self.add("R21", where, f"Command input {name!r} default value {default!r} is not "
                     f"one of the select-values {values!r}")

    def _default_chars(self, where: str, inp: dict) -> None:
        # Only defaults are visible here; what users type at launch is checked by XNAT
        # (not checkable statically).
        default = inp.get("default-value")
        if isinstance(default, str):
            for bad in ILLEGAL_STRINGS:
                if bad in default:
                    self.add("R30", f"{where}.default-value", f"contains {bad!r}: XNAT refuses "
                             "to launch with it (illegal input string)")
                    break

    def _outputs(self, cmd: dict, at: str, mounts: dict) -> dict[str, tuple[str, dict]]:
        outputs: dict[str, tuple[str, dict]] = {}
        for o, out in _dicts(cmd.get("outputs")):
            where = f"{at}.outputs[{o}]"
            name = out.get("name")
            if self._name_ok("R31", where, name, outputs, blank="Output name cannot be blank.",
                             kind="Command output", repeated="output name"):
                outputs[name] = (where, out)
            mount = out.get("mount")
            if _blank(mount):
                self.add("R32", where, f"Output {name!r} - mount cannot be blank.")
            elif mount not in mounts:
                self.add("R32", where, f"output {name!r} references unknown mount {mount!r}. "
                         "Known mounts: " + ", ".join(mounts))
            if not isinstance(out.get("required"), bool):
                self.add("R33", where, "set required explicitly (the code defaults to false, "
                         "the docs say true)")
            if out.get("glob"):
                self.add("R33", f"{where}.glob", "glob is ignored by the Container Service: "
                         "every entry of the output path is uploaded")
        return outputs

    def _secrets(self, cmd: dict, at: str) -> None:
        env = cmd.get("environment-variables")
        env = env if isinstance(env, dict) else {}
        seen: set[str] = set()
        for s, secret in enumerate(_list(cmd.get("secrets"))):
            where = f"{at}.secrets[{s}]"
            if not isinstance(secret, dict):
                self.add("R60", where, "a secret must be an object with source and destination")
                continue
            src = secret.get("source") if isinstance(secret.get("source"), dict) else {}
            dst = secret.get("destination") if isinstance(secret.get("destination"), dict) else {}
            if src.get("type") != "system-property":
                self.add("R60", f"{where}.source", f"source type {src.get('type')!r}: the only "
                         "source type is system-property")
            if _blank(src.get("identifier")):
                self.add("R60", f"{where}.source", "source identifier cannot be blank")
            if dst.get("type") != "environment-variable":
                self.add("R60", f"{where}.destination", f"destination type {dst.get('type')!r}: "
                         "the only destination type is environment-variable")
            ident = dst.get("identifier")
            if _blank(ident):
                self.add("R60", f"{where}.destination", "destination identifier cannot be blank")
                continue
            if ident in RESERVED_ENV:
                self.add("R61", f"{where}.destination", f"Secrets use reserved environment "
                         f"variable name {ident!r}")
            if ident in env:
                self.add("R61", f"{where}.destination", f"Secrets and environment variables "
                         f"both request name {ident!r}")
            if ident in seen:
                self.add("R61", f"{where}.destination", f"two secrets request name {ident!r}")
            seen.add(ident)

    def _wrapper_names(self, cmd: dict, at: str) -> None:
        seen: set[str] = set()
        for w, wrapper in _dicts(cmd.get("xnat")):
            name = wrapper.get("name")
            if _blank(name):
                self.add("R35", f"{at}.xnat[{w}]", "Command wrapper name cannot be blank.")
            elif name in seen:
                self.add("R35", f"{at}.xnat[{w}]", f"wrapper name {name!r} is not unique.")
            else:
                seen.add(name)

    # ---------------------------------------------------------------- templates
    def _replacement_keys(self, cmd, at, inputs, wrappers) -> None:
        cmdline = cmd.get("command-line") if isinstance(cmd.get("command-line"), str) else ""
        templates = [cmdline]
        env = cmd.get("environment-variables")
        if isinstance(env, dict):
            templates += [str(k) for k in env] + [str(v) for v in env.values()]
        ports = cmd.get("ports")
        if isinstance(ports, dict):
            templates += [str(k) for k in ports] + [str(v) for v in ports.values()]
        labels = cmd.get("container-labels")
        if isinstance(labels, dict):
            templates += [str(k) for k in labels] + [str(v) for v in labels.values()]
        for key in ("working-directory", "container-name"):
            if isinstance(cmd.get(key), str):
                templates.append(cmd[key])
        templates += [str(m.get("path", "")) for _, m in _dicts(cmd.get("mounts"))]
        templates += [str(o.get("path", "")) for _, o in _dicts(cmd.get("outputs"))]
        text = "\n".join(templates)

        cmd_keys = {name: _key(inp) for name, (_, inp) in inputs.items()}
        for name, (where, inp) in inputs.items():
            if cmd_keys[name] not in text:
                self.add("R24", where, f"replacement key {cmd_keys[name]!r} of input {name!r} "
                         "is used nowhere (command-line, environment, mounts, outputs, ports)")
        for token in sorted(set(HASH_KEY_RE.findall(cmdline))):
            if token not in cmd_keys.values():
                self.add("R26", f"{at}.command-line", f"{token} is not the replacement key of "
                         "a command input (wrapper-input keys are not substituted into "
                         "command-line); it stays in the command line as is")
        # R25: keys are replaced with String.replace in no fixed order, so one key inside
        # another corrupts the longer one. Command keys against each other, then per wrapper.
        pairs: dict[tuple[str, str], str] = {}
        entries = [(k, f"command input {n!r}", None) for n, k in cmd_keys.items()]
        self._substring_pairs(entries, pairs)
        for w, wrapper in wrappers:
            extra = []
            for kind in ("external-inputs", "derived-inputs"):
                for _, winp in _dicts(wrapper.get(kind)):
                    extra.append((_key(winp), f"wrapper {wrapper.get('name')!r} input "
                                  f"{winp.get('name')!r}",
                                  winp.get("provides-value-for-command-input")))
                    # a wrapper input's key is used only in non-command-line templates
            self._substring_pairs(entries + extra, pairs, only_with=extra)
        for (a, b), where in pairs.items():
            self.add("R25", f"{at}.inputs", where)

    def _substring_pairs(self, entries, pairs, only_with=None) -> None:
        for i, (ka, wa, pa) in enumerate(entries):
            for kb, wb, pb in entries[i + 1:]:
                if only_with is not None and not any(
                        e[1] in (wa, wb) for e in only_with):
                    continue
                if ka == kb:
                    # the same key on a wrapper input and the command input it feeds is the
                    # usual pattern and harmless (both carry the same value)
                    names = {wa, wb}
                    feeds = any(p and f"command input {p!r}" in names for p in (pa, pb))
                    if feeds or (ka, kb) in pairs:
                        continue
                    pairs[(ka, kb)] = f"{wa} and {wb} share the replacement key {ka!r}"
                elif ka in kb or kb in ka:
                    short, long_ = (ka, kb) if ka in kb else (kb, ka)
                    if (short, long_) not in pairs:
                        pairs[(short, long_)] = (f"replacement key {short!r} ({wa if short == ka else wb}) "
                                                 f"is part of {long_!r} ({wb if short == ka else wa})")

    # ---------------------------------------------------------------- wrappers
    def check_wrapper(self, cmd, wrapper, at, inputs, outputs, mounts) -> None:
        contexts = wrapper.get("contexts")
        if not isinstance(contexts, list) or not contexts:
            self.add("R36", f"{at}.contexts", "empty contexts: the wrapper is offered nowhere "
                     "(not in the UI, not to the Event Service)")
            contexts = []
        for c, ctx in enumerate(contexts):
            if ctx != "site" and not (isinstance(ctx, str)
                                      and re.match(r"^[A-Za-z][\w.-]*:[A-Za-z][\w.-]*$", ctx)):
                self.add("R36", f"{at}.contexts[{c}]", f"{ctx!r} is neither \"site\" nor an "
                         "XSI type like xnat:imageSessionData")
        if _blank(wrapper.get("label")) and _blank(wrapper.get("description")):
            self.add("R37", at, "no label and no description for the Run menu")
        externals = _dicts(wrapper.get("external-inputs"))
        deriveds = _dicts(wrapper.get("derived-inputs"))
        is_site = "site" in contexts
        if is_site and externals:
            self.add("R38", f"{at}.external-inputs", "a site wrapper takes no external input")
        if not is_site and len(externals) != 1:
            self.add("R38", f"{at}.external-inputs", f"{len(externals)} external inputs: the UI "
                     "and the Event Service need exactly one (the root element)")
        if externals:
            first = externals[0][1]
            ftype = first.get("type", "string")
            for ctx in contexts:
                want = _context_type(ctx)
                if want and ftype != want:
                    self.add("R39", f"{at}.external-inputs[0]", f"context {ctx!r} launches on a "
                             f"{want}, but the first external input is a {ftype}")
            name = first.get("name")
            for ctx in contexts:
                want = _context_type(ctx)
                # Which wrappers a site automates is not checkable statically: every
                # session/scan wrapper is held to the legacy automation names.
                if want == "Session" and name != "session":
                    self.add("R64", f"{at}.external-inputs[0]", f"external input {name!r}: "
                             "legacy Command Automation fills only an input named \"session\"")
                if want == "Scan" and name != "scan":
                    self.add("R64", f"{at}.external-inputs[0]", f"external input {name!r}: "
                             "legacy Command Automation fills only an input named \"scan\"")

        known: dict[str, dict] = {}      # name -> input, in declaration order
        all_inputs = [(f"{at}.external-inputs[{i}]", w, False) for i, w in externals] + \
                     [(f"{at}.derived-inputs[{i}]", w, True) for i, w in deriveds]
        for where, winp, derived in all_inputs:
            name = winp.get("name")
            self._name_ok("R40", where, name, known,
                          blank="Command wrapper input name cannot be blank.",
                          kind="Command wrapper input",
                          repeated=f"{'derived' if derived else 'external'} input name")
            wtype = winp.get("type", "string") or "string"
            if wtype not in WRAPPER_INPUT_TYPES:
                self.add("R41", f"{where}.type", f"Unknown type {wtype!r}. Known types: "
                         + ", ".join(sorted(WRAPPER_INPUT_TYPES)))
            if derived:
                self._derived(where, winp, known)
            self._wrapper_input(where, winp, wtype, inputs, mounts, wrapper)
            if isinstance(name, str) and name not in known:
                known[name] = winp

        # R48: one provider per mount
        providers: dict[str, str] = {}
        for where, winp, _ in all_inputs:
            mount = winp.get("provides-files-for-command-mount")
            if isinstance(mount, str) and mount:
                if mount in providers:
                    self.add("R48", where, f"mount {mount!r} is also filled by "
                             f"{providers[mount]}")
                else:
                    providers[mount] = where
        # R28: a required command input fed by an optional wrapper input may stay empty
        for where, winp, _ in all_inputs:
            target = winp.get("provides-value-for-command-input")
            if target in inputs:
                cinp = inputs[target][1]
                if _as_bool(cinp.get("required"), False) and cinp.get("default-value") in (None, "") \
                        and not _as_bool(winp.get("required"), True) \
                        and winp.get("default-value") in (None, ""):
                    self.add("R28", where, f"feeds required command input {target!r} but is "
                             "optional and has no default: the launch can leave it empty")
        # R49: Project inputs and children
        for where, winp, derived in all_inputs:
            if derived or winp.get("type") != "Project":
                continue
            if _as_bool(winp.get("load-children"), True) and \
                    not self._derives_children(winp.get("name"), deriveds):
                self.add("R49", where, "set \"load-children\": false: nothing derives from the "
                         "project's children, and loading them costs a walk of the project")
        self._handlers(at, wrapper, known, outputs)

    def _derived(self, where: str, winp: dict, known: dict) -> None:
        name = winp.get("name")
        parent = winp.get("derived-from-wrapper-input")
        if _blank(parent):
            self.add("R42", where, "property \"derived-from-wrapper-input\" cannot be blank.")
            return
        if parent == name:
            self.add("R42", where, f"derived input {name!r} is derived from itself.")
            return
        if parent not in known:
            self.add("R42", where, f"derived input {name!r} is derived from an unknown XNAT "
                     f"input {parent!r}. Known inputs: " + ", ".join(known)
                     + " (only external inputs and derived inputs declared earlier)")
            return
        ptype = known[parent].get("type", "string")
        dtype = winp.get("type", "string") or "string"
        if dtype in ("boolean", "number", "Config"):
            self.add("R43", where, f"derived {dtype} inputs are not implemented: it resolves "
                     "to nothing")
        elif dtype in DERIVATIONS and ptype not in DERIVATIONS[dtype]:
            self.add("R43", where, f"An input of type {dtype!r} cannot be derived from an "
                     f"input of type {ptype!r}: it resolves to nothing")
        if dtype == "string":
            prop = winp.get("derived-from-xnat-object-property")
            allowed = COMMON_PROPERTIES | PROPERTIES.get(ptype, set())
            if _blank(prop):
                self.add("R43", where, "a string derivation needs "
                         "derived-from-xnat-object-property")
            elif ptype in XNAT_OBJECT_TYPES | {"File"} and prop not in allowed:
                self.add("R43", where, f"{prop!r} is not a property of a {ptype}; known: "
                         + ", ".join(sorted(allowed)))

    def _wrapper_input(self, where, winp, wtype, inputs, mounts, wrapper) -> None:
        name = winp.get("name")
        mount = winp.get("provides-files-for-command-mount")
        via = winp.get("via-setup-command")
        if via not in (None, ""):
            if _blank(mount):
                self.add("R44", where, f"\"via-setup-command\": {via!r} - You cannot set "
                         "\"via-setup-command\" on an input that does not provide files for a "
                         "command mount.")
            if not isinstance(via, str) or not SETUP_REF_RE.match(via):
                self.warn("R44", f"{where}.via-setup-command", f"{via!r} is not of the form "
                          "repo/image:tag[:commandName]")
        if _as_bool(winp.get("multiple"), False):
            if not _blank(mount):
                self.add("R45", where, f"derived input {name!r} is designated as a \"multiple\" "
                         "input, which means it cannot provide files for command mounts")
            if _blank(winp.get("provides-value-for-command-input")):
                self.add("R45", where, f"derived input {name!r} is designated as a \"multiple\" "
                         "input, which means it must directly provide values for some command "
                         "input.")
        target = winp.get("provides-value-for-command-input")
        if not _blank(target):
            if target not in inputs:
                self.warn("R46", where, f"provides a value for unknown command input {target!r}")
            else:
                cinp = inputs[target][1]
                if cinp.get("type") in SELECT_TYPES or cinp.get("select-values"):
                    self.add("R46", where, f"input {name!r} provides values for command input "
                             f"{target!r}, which is a select type.")
        if not _blank(mount):
            if mount not in mounts:
                self.add("R47", where, f"provides files for unknown mount {mount!r}")
            if wtype not in MOUNTABLE_TYPES:
                self.add("R47", where, f"a {wtype} input cannot provide files for a mount "
                         "(mountable: " + ", ".join(sorted(MOUNTABLE_TYPES)) + ")")
        if winp.get("user-settable") is not None and not _as_bool(winp.get("user-settable"), True):
            derived = "derived-from-wrapper-input" in winp
            if not derived and winp.get("default-value") in (None, ""):
                self.add("R50", where, "user-settable is false but there is no default-value: "
                         "nothing can set it")
        self._default_chars(where, winp)
        # R29 for wrapper inputs: a secret-looking wrapper input should be sensitive too
        if SECRET_NAME_RE.search(str(name)) and not _as_bool(winp.get("sensitive"), False):
            self.add("R29", where, f"{name!r} looks like a secret: set \"sensitive\": true")

    def _derives_children(self, name, deriveds) -> bool:
        for _, d in deriveds:
            if d.get("derived-from-wrapper-input") != name:
                continue
            if d.get("type") in PROJECT_CHILD_TYPES:
                return True
            if d.get("type") == "string" and \
                    d.get("derived-from-xnat-object-property") in PROJECT_CHILD_PROPERTIES:
                return True
        return False

    def _handlers(self, at: str, wrapper: dict, known: dict, outputs: dict) -> None:
        names: list[str] = []
        handled: set[str] = set()
        for h, handler in _dicts(wrapper.get("output-handlers")):
            where = f"{at}.output-handlers[{h}]"
            name = handler.get("name")
            self._name_ok("R51", where, name, names,
                          blank="Command wrapper output - name cannot be blank.",
                          kind="output handler", repeated="output handler name")
            accepts = handler.get("accepts-command-output")
            if _blank(accepts):
                self.add("R52", where, "property \"accepts-command-output\" cannot be blank.")
            elif accepts not in outputs:
                self.add("R52", where, f"output handler refers to unknown command output "
                         f"{accepts!r}. Known outputs: " + ", ".join(outputs))
            else:
                handled.add(accepts)
            legacy = "as-a-child-of-wrapper-input" in handler
            parent = handler.get("as-a-child-of", handler.get("as-a-child-of-wrapper-input"))
            if legacy:
                self.add("R59", f"{where}.as-a-child-of-wrapper-input", "legacy key: accepted "
                         "when a command is created, lost on update; use \"as-a-child-of\"")
            if _blank(parent):
                self.add("R53", where, "property \"as-a-child-of\" cannot be blank.")
            elif parent not in known and parent not in names:
                self.add("R53", where, f"output handler does not refer to a known wrapper input "
                         f"or output. \"as-a-child-of\": {parent!r}. Known inputs: "
                         + ", ".join(known) + ". Known outputs (so far): " + ", ".join(names))
            elif parent in known:
                target = known[parent]
                if _as_bool(target.get("multiple"), False):
                    self.add("R55", where, f"output handler {name!r} has \"as-a-child-of\": "
                             f"{parent!r}, but that input is set to allow multiple values.")
                prop = target.get("derived-from-xnat-object-property")
                if "derived-from-wrapper-input" in target and prop not in (None, "", "uri"):
                    self.add("R55", where, f"output handler {name!r} has \"as-a-child-of\": "
                             f"{parent!r}, but that input's value is set to {prop!r}, which will "
                             "cause the upload to fail (a \"uri\" is required for upload).")
            htype = handler.get("type", "Resource") or "Resource"
            if htype not in HANDLER_TYPES:
                self.add("R54", where, f"Unknown type {htype!r}. Known types: Resource, "
                         "Assessor, Scan")
            elif htype == "Resource":
                if _blank(handler.get("label")):
                    self.add("R54", where, "when type = Resource, label cannot be blank.")
                if parent in known and known[parent].get("type", "string") not in XNAT_OBJECT_TYPES:
                    self.add("R57", where, f"the parent {parent!r} is a "
                             f"{known[parent].get('type', 'string')}, not an XNAT object: the "
                             "resource has nowhere to go")
            else:
                # That the job writes exactly one .xml file is not checkable statically.
                if _blank(handler.get("xsi-type")):
                    self.add("R58", where, f"a {htype} handler should set xsi-type (and the "
                             "output must hold exactly one .xml file)")
            if isinstance(name, str):
                names.append(name)
        for oname, (owhere, _) in outputs.items():
            if oname not in handled:
                self.add("R56", f"{at}.output-handlers", f"command output {oname!r} is not "
                         "handled by any output handler.")

    def _mount_fill(self, cmd, at, mounts, outputs, inputs, wrappers) -> None:
        """R34, and R24/R29 parts that need every wrapper."""
        filled: dict[str, str] = {}
        for w, wrapper in wrappers:
            for kind in ("external-inputs", "derived-inputs"):
                for i, winp in _dicts(wrapper.get(kind)):
                    mount = winp.get("provides-files-for-command-mount")
                    if isinstance(mount, str) and mount:
                        filled.setdefault(mount, f"{at}.xnat[{w}].{kind}[{i}]")
        for oname, (where, out) in outputs.items():
            if out.get("mount") in filled:
                self.add("R34", where, f"output {oname!r} uploads mount {out.get('mount')!r}, "
                         f"which {filled[out.get('mount')]} fills with input files: they would "
                         "be uploaded again")
        # A "file" input is copied into the first writable mount (an unfilled mount is an output
        # mount, always writable); when an output uploads that mount, the uploaded file is
        # uploaded again with the output.
        if any(inp.get("type") == "file" for _, inp in inputs.values()):
            for w, wrapper in wrappers or [(None, {})]:
                fills = {winp.get("provides-files-for-command-mount")
                         for kind in ("external-inputs", "derived-inputs")
                         for _, winp in _dicts(wrapper.get(kind))}
                for m, mount in _dicts(cmd.get("mounts")):
                    if mount.get("name") in fills and not _as_bool(mount.get("writable"), False):
                        continue
                    used = [o for o, (_, out) in outputs.items()
                            if out.get("mount") == mount.get("name")]
                    if used:
                        self.add("R34", f"{at}.mounts[{m}]", f"the file input is copied into "
                                 f"{mount.get('name')!r}, the first writable mount, which output "
                                 f"{used[0]!r} uploads: list a dedicated upload mount first")
                    break
        # R29: secrets on the command line
        cmdline = cmd.get("command-line") if isinstance(cmd.get("command-line"), str) else ""
        for name, (where, inp) in inputs.items():
            secretish = SECRET_NAME_RE.search(name) or SECRET_NAME_RE.search(str(inp.get("label", "")))
            sensitive = _as_bool(inp.get("sensitive"), False)
            if secretish and not sensitive:
                self.add("R29", where, f"{name!r} looks like a secret: set \"sensitive\": true")
            if (secretish or sensitive) and _key(inp) in cmdline:
                self.add("R29", where, f"{name!r} is on the command line, where every process "
                         "and log can read it: route it through environment-variables")
            if sensitive and inp.get("default-value") not in (None, ""):
                self.add("R29", where, f"{name!r} is sensitive but has a default-value stored "
                         "in the command")


def _context_type(ctx: Any) -> str | None:
    if not isinstance(ctx, str) or ctx == "site":
        return None
    local = ctx.split(":", 1)[-1]
    if local == "projectData":
        return "Project"
    if local == "subjectData":
        return "Subject"
    if local == "abstractProjectAsset":
        return "ProjectAsset"
    for suffix, kind in (("SessionData", "Session"), ("ScanData", "Scan"),
                         ("AssessorData", "Assessor")):
        if local.endswith(suffix):
            return kind
    return None   # other types (e.g. custom assessors): not checkable statically


# -------------------------------------------------------------------- Dockerfile label
def escape_label(commands: list) -> str:
    """The value of ``LABEL org.nrg.commands="..."``: minified JSON, escaped for Docker."""
    text = json.dumps(commands, separators=(",", ":"))
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def unescape_label(value: str) -> str:
    """Inverse of :func:`escape_label`, as Docker reads a double-quoted word."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in '"\\$':
            out.append(value[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


LABEL_LINE_RE = re.compile(r'^LABEL\s+org\.nrg\.commands="((?:[^"\\]|\\.)*)"\s*$', re.M)


def dockerfile_label(text: str) -> str | None:
    """The unescaped ``org.nrg.commands`` label of a Dockerfile, or None."""
    match = LABEL_LINE_RE.search(text)
    return unescape_label(match.group(1)) if match else None


def check_label(dockerfile_text: str, commands: Any) -> list[Problem]:
    """R1 on the label value and R2: the label equals the command file."""
    value = dockerfile_label(dockerfile_text)
    if value is None:
        return [Problem("R2", "Dockerfile", "no LABEL org.nrg.commands=\"...\" line")]
    try:
        label = json.loads(value)
    except ValueError as exc:
        return [Problem("R1", "Dockerfile.LABEL", f"the label is not JSON: {exc}")]
    problems = []
    if not isinstance(label, list):
        problems.append(Problem("R1", "Dockerfile.LABEL", "the label must be a JSON array, "
                                "even for a single command"))
    expected = commands if isinstance(commands, list) else [commands]
    if label != expected:
        problems.append(Problem("R2", "Dockerfile.LABEL", "the label differs from the command "
                                "file: regenerate it (scripts/generate_label.py)"))
    return problems


# -------------------------------------------------------------------- entry points
def check_commands(data: Any) -> list[Problem]:
    checker = _Checker()
    checker.check_document(data)
    return checker.problems


def load_commands(path: Path) -> Any:
    """A command file (JSON object or array) or a Dockerfile's ``org.nrg.commands`` label."""
    text = Path(path).read_text()
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return json.loads(text)
    value = dockerfile_label(text)
    if value is None:
        raise ValueError(f"{path}: neither JSON nor a Dockerfile with an org.nrg.commands label")
    return json.loads(value)


def check_path(path: Path, dockerfile: Path | None = None) -> list[Problem]:
    text = Path(path).read_text()
    stripped = text.lstrip()
    problems: list[Problem] = []
    if not stripped.startswith(("{", "[")):
        # a Dockerfile: R1 holds for the label value itself (an array, not an object)
        value = dockerfile_label(text)
        if value is None:
            raise ValueError(f"{path}: neither JSON nor a Dockerfile with an org.nrg.commands label")
        data = json.loads(value)
        if not isinstance(data, list):
            problems.append(Problem("R1", "Dockerfile.LABEL", "the label must be a JSON array"))
    else:
        data = json.loads(text)
    problems += check_commands(data)
    if dockerfile is not None:
        problems += check_label(Path(dockerfile).read_text(), data)
    return problems


def format_problems(problems: Iterable[Problem]) -> list[str]:
    return [str(p) for p in problems]
