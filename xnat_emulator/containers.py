"""Container Service rules: validate a command, resolve a wrapper's inputs, build the job.

No HTTP here. ``container-service.md`` (CS 3.7.3) is the spec; section numbers below are its.

* §1.7: what ``POST /xapi/commands`` rejects (a subset of ``Command.validate()``, same words).
* §1.5/§1.8: a launch resolves the wrapper's external inputs from a URI or ID, derives the
  others by walking parents and children, gives command inputs their values (default <
  runtime < wrapper input), renders flags, ``true-value``/``false-value`` and replacement
  keys, and refuses values holding ``;``, ``&&``, ``||``, a backtick or ``(``.
* §1.2: a mount fed by an input gets a copy of the object's files (read-only unless
  ``writable``); a mount no input fills is an empty, writable output mount.
* §4.2: ``override-entrypoint`` runs ``/bin/sh -c <command line>``; otherwise the shell-split
  command line is handed to the image's entrypoint.

What differs from a container: there is no image and no bind mount. Mount directories live in
the emulator's data directory, and their container paths (``/input``, ``/output``) are
rewritten to those directories in the command line, environment and working directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import items
from .api.paths import Context, Resolver, parse
from .errors import XnatError
from .store import Experiment, Project, Resource, Scan, Store, Subject

ILLEGAL_INPUT_STRINGS = (";", "&&", "||", "`", "(")
RESERVED_ENV = ("XNAT_USER", "XNAT_PASS", "XNAT_HOST")
COMMAND_TYPES = ("docker", "docker-setup", "docker-wrapup")
VISIBILITIES = ("public", "private", "protected")
COMMAND_INPUT_TYPES = ("string", "boolean", "number", "select-one", "select-many", "file")
WRAPPER_INPUT_TYPES = ("string", "boolean", "number", "Directory", "File", "File[]", "Project",
                       "ProjectAsset", "Subject", "SubjectAssessor", "Session", "Scan",
                       "Assessor", "Resource", "Config", "file")
OBJECT_TYPES = ("Project", "ProjectAsset", "Subject", "SubjectAssessor", "Session", "Scan",
                "Assessor", "Resource")
MOUNTABLE_TYPES = ("Project", "ProjectAsset", "SubjectAssessor", "Session", "Scan", "Assessor",
                   "Resource", "File")
OUTPUT_HANDLER_TYPES = ("Resource", "Assessor", "Scan")
MULTIPLE_DELIMITERS = ("quoted-space", "space", "comma", "flag")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
IMAGE_RE = re.compile(r"^.+:[a-zA-Z0-9_.-]+$")
BOOLEAN_KEYS = ("override-entrypoint", "writable", "required", "sensitive", "user-settable",
                "load-children", "multiple", "auto-remove", "advanced")


class CommandValidationError(XnatError):
    """``POST /xapi/commands`` with a command ``Command.validate()`` refuses: 400."""

    status = 400

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class ResolutionError(Exception):
    """The launch cannot be resolved: the workflow ends as ``Failed (Command resolution)``."""


# -- the command document --------------------------------------------------------------------

def _coerce(value):
    """Jackson reads ``"true"``/``"false"`` as booleans (DI writes ``"writable": "false"``)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def normalize_command(raw: dict, image: str | None = None) -> dict:
    """The command as the service stores it: booleans coerced, ``:latest`` added, strings kept.

    ``default-value`` becomes a string (Jackson turns ``false`` into ``"false"``).
    """
    cmd = json.loads(json.dumps(raw))

    def fix(obj: dict) -> None:
        for key in BOOLEAN_KEYS:
            if key in obj:
                obj[key] = _coerce(obj[key])
        if "default-value" in obj and obj["default-value"] is not None and not isinstance(
                obj["default-value"], str):
            dv = obj["default-value"]
            obj["default-value"] = (json.dumps(dv) if isinstance(dv, (list, dict)) else
                                    str(dv).lower() if isinstance(dv, bool) else str(dv))

    fix(cmd)
    if image:
        cmd["image"] = image
    img = cmd.get("image")
    if isinstance(img, str) and img.strip() and not IMAGE_RE.match(img):
        cmd["image"] = img + ":latest"  # builderFromCreation().setDefaultTag
    cmd.setdefault("type", "docker")
    for key in ("mounts", "inputs", "outputs", "xnat"):
        if not isinstance(cmd.get(key), list):
            cmd[key] = []
    for obj in cmd["mounts"] + cmd["inputs"] + cmd["outputs"]:
        if isinstance(obj, dict):
            fix(obj)
    for wrapper in cmd["xnat"]:
        if not isinstance(wrapper, dict):
            continue
        for key in ("external-inputs", "derived-inputs", "output-handlers", "contexts"):
            if not isinstance(wrapper.get(key), list):
                wrapper[key] = []
        for obj in wrapper["external-inputs"] + wrapper["derived-inputs"]:
            if isinstance(obj, dict):
                fix(obj)
        for handler in wrapper["output-handlers"]:
            if isinstance(handler, dict) and "as-a-child-of-wrapper-input" in handler:
                handler.setdefault("as-a-child-of", handler.pop("as-a-child-of-wrapper-input"))
    return cmd


def validate_command(cmd: dict) -> list[str]:
    """The errors ``Command.validate()`` reports (§1.7), for a normalised command."""
    errors: list[str] = []
    name = cmd.get("name")
    if not isinstance(name, str) or not name.strip():
        return ["Command name cannot be blank."]
    pre = f'Command "{name}" - '
    image = cmd.get("image")
    if not isinstance(image, str) or not image.strip():
        errors.append(pre + "image name cannot be blank.")
    elif not IMAGE_RE.match(image):
        errors.append(pre + "image name must include version tag. e.g. image_name:tag")
    ctype = cmd.get("type")
    if ctype not in COMMAND_TYPES:
        errors.append(pre + f'Cannot validate command of type "{ctype}". Known types: '
                      + ", ".join(COMMAND_TYPES))
    if cmd.get("visibility") is not None and cmd["visibility"] not in VISIBILITIES:
        errors.append(pre + "has visibility set to an unknown value. Known types: "
                      + ", ".join(VISIBILITIES))
    for key, value in (cmd.get("ulimits") or {}).items():
        if not str(value) or str(value).count(":") > 1:
            errors.append(pre + f'incorrect ulimit format: {value}. Should be "name" : '
                          '"softlimit:hardlimit" or "name" : "limit"')
    env = cmd.get("environment-variables") or {}
    for secret in cmd.get("secrets") or []:
        src, dest = (secret or {}).get("source") or {}, (secret or {}).get("destination") or {}
        if src.get("type") != "system-property" or dest.get("type") != "environment-variable" \
                or not src.get("identifier") or not dest.get("identifier"):
            errors.append(pre + "Secrets need a system-property source and an "
                          "environment-variable destination, each with an identifier.")
            continue
        if dest["identifier"] in RESERVED_ENV:
            errors.append(pre + f'Secrets use reserved environment variable name '
                          f'"{dest["identifier"]}"')
        if dest["identifier"] in env:
            errors.append(pre + f'Secrets and environment variables both request name '
                          f'"{dest["identifier"]}"')
    if ctype in ("docker-setup", "docker-wrapup"):
        for key in ("mounts", "inputs", "outputs", "xnat"):
            if cmd.get(key):
                errors.append(pre + f"{ctype} commands cannot declare {key}.")
    mounts = _unique(cmd["mounts"], "mount", pre, errors)
    for mount in cmd["mounts"]:
        if mount.get("name") and not str(mount.get("path") or "").strip():
            errors.append(pre + f'Mount "{mount["name"]}" path cannot be blank.')
    inputs = _unique(cmd["inputs"], "input", pre, errors)
    for inp in cmd["inputs"]:
        iname = inp.get("name")
        if not _check_name(iname, pre, "Command input name cannot be blank", "Command input",
                           errors):
            continue
        delim = inp.get("multiple-delimiter")
        if delim is not None and delim not in MULTIPLE_DELIMITERS:
            errors.append(pre + f'Invalid multiple-delimiter "{delim}", choose from: '
                          + ", ".join(MULTIPLE_DELIMITERS))
        selects = inp.get("select-values") or []
        is_select = inp.get("type") in ("select-one", "select-many")
        if is_select and not selects:
            errors.append(pre + f'Command input "{iname}" is designated as type '
                          f'"{inp["type"]}" but doesn\'t list select-values.')
        if selects and not is_select:
            errors.append(pre + f'Command input "{iname}" has select-values set, but is not '
                          "a select type.")
        dv = inp.get("default-value")
        if selects and dv not in (None, "") and inp.get("type") != "select-many" \
                and dv not in selects:
            errors.append(pre + f'Command input "{iname}" default value "{dv}" is not one of '
                          f'the select-values "{selects}"')
    outputs = _unique(cmd["outputs"], "output", pre, errors)
    for out in cmd["outputs"]:
        oname = out.get("name")
        if not _check_name(oname, pre, "Output name cannot be blank.", "Command output", errors):
            continue
        if not out.get("mount"):
            errors.append(pre + f'Output "{oname}" - mount cannot be blank.')
        elif out["mount"] not in mounts:
            errors.append(pre + f'output "{oname}" references unknown mount "{out["mount"]}". '
                          f"Known mounts: {', '.join(mounts)}")
    _unique(cmd["xnat"], "wrapper", pre, errors)
    for wrapper in cmd["xnat"]:
        errors += _validate_wrapper(wrapper, pre, inputs, outputs)
    return errors


def _check_name(name: str | None, pre: str, blank: str, what: str, errors: list[str]) -> bool:
    """CS checks every input, output and handler name alike: ``blank`` when missing, else
    the allowed characters. False when missing, as CS then skips that object's other checks."""
    if not name:
        errors.append(pre + blank)
        return False
    if not NAME_RE.match(name):
        errors.append(pre + f'{what} "{name}" name should contain only '
                      "alphanumeric, _ and - characters.")
    return True


def _unique(objs: list, what: str, pre: str, errors: list[str]) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for obj in objs:
        if not isinstance(obj, dict):
            errors.append(pre + f"{what} must be an object.")
            continue
        name = obj.get("name")
        if what == "mount" and not name:
            errors.append(pre + "Mount name cannot be blank.")
        if name in seen:
            errors.append(pre + f'{what} name "{name}" is not unique.')
        if name:
            seen[name] = obj
    return seen


def _validate_wrapper(wrapper: dict, pre: str, cmd_inputs: dict, cmd_outputs: dict) -> list[str]:
    errors: list[str] = []
    wname = wrapper.get("name")
    if not wname:
        return [pre + "Command wrapper name cannot be blank."]
    wpre = pre + f'wrapper "{wname}" - '
    known: dict[str, dict] = {}
    for kind in ("external", "derived"):
        for inp in wrapper[f"{kind}-inputs"]:
            iname = inp.get("name")
            if not _check_name(iname, wpre, "Command wrapper input name cannot be blank.",
                               "Command wrapper input", errors):
                continue
            itype = inp.get("type", "string")
            if itype not in WRAPPER_INPUT_TYPES:
                errors.append(wpre + f'Command wrapper input "{iname}" - Unknown type '
                              f'"{itype}". Known types: ' + ", ".join(WRAPPER_INPUT_TYPES))
            if inp.get("via-setup-command") and not inp.get("provides-files-for-command-mount"):
                errors.append(wpre + f'Command wrapper input "{iname}" - "via-setup-command": '
                              f'"{inp["via-setup-command"]}" - You cannot set '
                              '"via-setup-command" on an input that does not provide files for '
                              "a command mount.")
            target = inp.get("provides-value-for-command-input")
            if target and (cmd_inputs.get(target) or {}).get("type") in ("select-one",
                                                                         "select-many"):
                errors.append(wpre + f'{kind} input "{iname}" provides values for command input '
                              f'"{target}", which is a select type.')
            if kind == "derived":
                parent = inp.get("derived-from-wrapper-input")
                if not parent:
                    errors.append(wpre + f'Command wrapper input "{iname}" - property '
                                  '"derived-from-wrapper-input" cannot be blank.')
                elif parent == iname:
                    errors.append(wpre + f'derived input "{iname}" is derived from itself.')
                elif parent not in known:
                    errors.append(wpre + f'derived input "{iname}" is derived from an unknown '
                                  f'XNAT input "{parent}". Known inputs: ' + ", ".join(known))
                if inp.get("multiple") and inp.get("provides-files-for-command-mount"):
                    errors.append(wpre + f'derived input "{iname}" is designated as a '
                                  '"multiple" input, which means it cannot provide files for '
                                  "command mounts.")
                if inp.get("multiple") and not target:
                    errors.append(wpre + f'derived input "{iname}" is designated as a '
                                  '"multiple" input, which means it must directly provide '
                                  "values for some command input.")
            if iname in known:
                errors.append(wpre + f'{kind} input name "{iname}" is not unique.')
            known[iname] = inp
    handled: set[str] = set()
    handlers: dict[str, dict] = {}
    for handler in wrapper["output-handlers"]:
        hname = handler.get("name")
        if not _check_name(hname, wpre, "Command wrapper output - name cannot be blank.",
                           "Command wrapper output", errors):
            continue
        accepts = handler.get("accepts-command-output")
        if not accepts:
            errors.append(wpre + f'Command wrapper output "{hname}" - property '
                          '"accepts-command-output" cannot be blank.')
        elif accepts not in cmd_outputs:
            errors.append(wpre + f'output handler refers to unknown command output "{accepts}". '
                          "Known outputs: " + ", ".join(cmd_outputs))
        else:
            handled.add(accepts)
        parent = handler.get("as-a-child-of")
        htype = handler.get("type", "Resource")
        if not parent:
            errors.append(wpre + f'Command wrapper output "{hname}" - property "as-a-child-of" '
                          "cannot be blank.")
        elif parent not in known and parent not in handlers:
            errors.append(wpre + 'output handler does not refer to a known wrapper input or '
                          f'output. "as-a-child-of": "{parent}". Known inputs: '
                          + ", ".join(known) + ". Known outputs (so far): "
                          + ", ".join(handlers) + ".")
        elif parent in known:
            target = known[parent]
            if target.get("multiple"):
                errors.append(wpre + f'output handler "{hname}" has "as-a-child-of": '
                              f'"{parent}", but that input is set to allow multiple values.')
            prop = target.get("derived-from-xnat-object-property")
            if prop and prop != "uri":
                errors.append(wpre + f'output handler "{hname}" has "as-a-child-of": '
                              f'"{parent}", but that input\'s value is set to "{prop}", which '
                              'will cause the upload to fail (a "uri" is required for upload).')
        if htype not in OUTPUT_HANDLER_TYPES:
            errors.append(wpre + f'Command wrapper output "{hname}" - Unknown type "{htype}". '
                          "Known types: " + ", ".join(OUTPUT_HANDLER_TYPES))
        elif htype == "Resource" and not str(handler.get("label") or "").strip():
            errors.append(wpre + f'Command wrapper output "{hname}" - when type = Resource, '
                          "label cannot be blank.")
        if hname in handlers:
            errors.append(wpre + f'output handler name "{hname}" is not unique.')
        handlers[hname] = handler
    for out in cmd_outputs:
        if out not in handled:
            errors.append(wpre + f'command output "{out}" is not handled by any output handler.')
    return errors


def xsi_matches_contexts(docs: items.Documents, xsi_type: str, contexts: list[str]) -> bool:
    """``xsiTypeEqualToOrInstanceOf``: equal to, or a subtype of, some context."""
    for ctx in contexts:
        if ctx == xsi_type:
            return True
        try:
            if docs.is_a(xsi_type, ctx):
                return True
        except Exception:  # unknown context type
            continue
    return False


# -- XNAT objects as the Container Service models them ---------------------------------------

@dataclass
class XnatObject:
    type: str                 # Project, Subject, Session, SubjectAssessor, Scan, Assessor, Resource
    id: str
    label: str
    xsi_type: str
    uri: str                  # /archive/...: the value an object input resolves to
    project: str
    record: object = None     # the store row
    data: dict = field(default_factory=dict)  # the JSON the matchers and properties see
    parent: XnatObject | None = None          # a Resource's owner


class Catalog:
    """Reads the emulator's archive as CS model objects, with ``who``'s read access."""

    def __init__(self, store: Store, docs: items.Documents, resolver: Resolver):
        self.store = store
        self.docs = docs
        self.resolver = resolver

    # -- lookup -------------------------------------------------------------------------------

    def resolve(self, value: str, wanted: str) -> XnatObject:
        """An external input's value: a URI (``/archive/experiments/E``), JSON, or an ID."""
        text = (value or "").strip()
        if text.startswith("{"):
            try:
                text = str(json.loads(text).get("uri") or json.loads(text).get("id") or "")
            except (ValueError, AttributeError):
                raise ResolutionError(f"Could not parse \"{value}\" as JSON.") from None
        try:
            if text.startswith("/"):
                obj = self._from_uri(text)
            else:
                obj = self._from_id(text, wanted)
        except XnatError:
            obj = None
        if obj is None:
            raise ResolutionError(f'Could not instantiate {wanted} from value "{value}".')
        if not self._type_fits(obj.type, wanted):
            raise ResolutionError(f'Input value "{value}" is a {obj.type}, not a {wanted}.')
        return obj

    @staticmethod
    def _type_fits(actual: str, wanted: str) -> bool:
        if actual == wanted:
            return True
        return {actual, wanted} <= {"Session", "SubjectAssessor"} and actual == "Session"

    def _from_uri(self, uri: str) -> XnatObject | None:
        path = uri
        if not path.startswith(("/data/", "/REST/")):
            path = "/data" + (path if path.startswith("/archive/") else "/archive" + path)
        data_path = parse(path)
        if not data_path.pairs:
            return None
        resource_ref = None
        if data_path.pairs[-1][0] == "resources":
            resource_ref = data_path.pairs[-1][1]
            data_path.pairs = data_path.pairs[:-1]
        ctx = self.resolver.walk(data_path, stop_before_last=False)
        obj = self._object_of(ctx, data_path.pairs[-1][0] if data_path.pairs else "")
        if obj is None or resource_ref is None:
            return obj
        owner_type, owner_id = self._owner(obj)
        res = self.store.find_resource(owner_type, owner_id, resource_ref)
        return self.resource(res, obj) if res else None

    def _object_of(self, ctx: Context, last: str) -> XnatObject | None:
        if last == "scans" and ctx.scan is not None:
            return self.scan(ctx.scan, ctx.experiment)
        if last == "assessors" and ctx.assessor is not None:
            return self.experiment(ctx.assessor)
        if last == "experiments" and ctx.experiment is not None:
            return self.experiment(ctx.experiment)
        if last == "subjects" and ctx.subject is not None:
            return self.subject(ctx.subject)
        if last == "projects" and ctx.project is not None:
            return self.project(ctx.project)
        return None

    def _from_id(self, text: str, wanted: str) -> XnatObject | None:
        if wanted == "Project":
            return self._from_uri(f"/archive/projects/{text}")
        if wanted == "Subject":
            return self._from_uri(f"/archive/subjects/{text}")
        if wanted in ("Session", "SubjectAssessor", "Assessor"):
            exp = self.store.get_experiment(text)
            if exp is None:
                return None
            if exp.session_id:
                return self._from_uri(f"/archive/experiments/{exp.session_id}/assessors/{text}")
            return self._from_uri(f"/archive/experiments/{text}")
        return None

    # -- model objects ------------------------------------------------------------------------

    def project(self, p: Project) -> XnatObject:
        uri = f"/archive/projects/{p.id}"
        data = {"id": p.id, "label": p.id, "xsiType": "xnat:projectData", "uri": uri,
                "directory": "", "title": p.name, "running-title": p.secondary_id,
                "description": p.description, "accessibility": p.accessibility,
                "aliases": self.store.project_aliases(p.id), "type": "Project"}
        obj = XnatObject("Project", p.id, p.id, "xnat:projectData", uri, p.id, p, data)
        data["resources"] = [self.resource(r, obj).data
                             for r in self.store.list_resources("project", p.id)]
        return obj

    def subject(self, s: Subject) -> XnatObject:
        uri = f"/archive/subjects/{s.id}"
        data = {"id": s.id, "label": s.label, "xsiType": "xnat:subjectData", "uri": uri,
                "directory": "", "project-id": s.project, "datatype-string": "",
                "type": "Subject"}
        obj = XnatObject("Subject", s.id, s.label, "xnat:subjectData", uri, s.project, s, data)
        data["resources"] = [self.resource(r, obj).data
                             for r in self.store.list_resources("subject", s.id)]
        return obj

    def experiment(self, e: Experiment) -> XnatObject:
        if e.session_id:
            kind = "Assessor"
            uri = f"/archive/experiments/{e.session_id}/assessors/{e.id}"
        else:
            kind = "Session" if self._is_a(e.xsi_type, "xnat:imageSessionData") else \
                "SubjectAssessor"
            uri = f"/archive/experiments/{e.id}"
        data = {"id": e.id, "label": e.label, "xsiType": e.xsi_type, "uri": uri,
                "directory": "", "project-id": e.project, "subject-id": e.subject_id or "",
                "datatype-string": "", "type": kind}
        obj = XnatObject(kind, e.id, e.label, e.xsi_type, uri, e.project, e, data)
        if kind == "Assessor":
            data["session-id"] = e.session_id
            owner = ("assessor", e.id)
        else:
            owner = ("experiment", e.id)
        data["resources"] = [self.resource(r, obj).data
                             for r in self.store.list_resources(*owner)]
        if kind == "Session":
            scans = self.store.list_scans(e.id)
            data["scans"] = [self.scan(s, e).data for s in scans]
            data["modalities-in-study"] = sorted({s.xsi_type.split(":")[-1][:-len("ScanData")]
                                                  .upper() for s in scans
                                                  if s.xsi_type.endswith("ScanData")})
        return obj

    def scan(self, s: Scan, session: Experiment) -> XnatObject:
        uri = f"/archive/experiments/{session.id}/scans/{s.scan_id}"
        el = items.load(s.xml)
        scan_type = el.get("type") or ""
        description = ""
        try:
            description = self.docs.get_field(el, s.xsi_type, "series_description") or ""
        except Exception:
            description = ""
        data = {"id": s.scan_id, "label": s.scan_id, "xsiType": s.xsi_type, "uri": uri,
                "directory": "", "integer-id": s.scan_id if s.scan_id.isdigit() else None,
                "scan-type": scan_type, "series-description": description,
                "project-id": session.project, "session-id": session.id,
                "datatype-string": "", "type": "Scan"}
        obj = XnatObject("Scan", s.scan_id, s.scan_id, s.xsi_type, uri, session.project,
                         s, data)
        data["resources"] = [self.resource(r, obj).data
                             for r in self.store.list_resources("scan", str(s.pk))]
        return obj

    def resource(self, r: Resource, parent: XnatObject) -> XnatObject:
        uri = f"{parent.uri}/resources/{r.id}"
        directory = str(self.store.resource_dir(r.id))
        data = {"id": str(r.id), "label": r.label, "xsiType": r.element_name, "uri": uri,
                "directory": directory, "integer-id": r.id, "parent-uri": parent.uri,
                "format": r.format, "content": r.content, "datatype-string": "",
                "type": "Resource",
                "files": [{"name": f.path.rsplit("/", 1)[-1], "path": f.path,
                           "uri": f"{uri}/files/{f.path}", "format": f.format,
                           "content": f.content, "tags": f.tags, "size": f.size}
                          for f in self.store.list_files(r.id)]}
        return XnatObject("Resource", str(r.id), r.label, r.element_name, uri, parent.project,
                          r, data, parent)

    def _is_a(self, xsi_type: str, base: str) -> bool:
        try:
            return xsi_type == base or self.docs.is_a(xsi_type, base)
        except Exception:
            return False

    def _owner(self, obj: XnatObject) -> tuple[str, str]:
        if obj.type == "Scan":
            return "scan", str(obj.record.pk)
        if obj.type == "Assessor":
            return "assessor", obj.id
        if obj.type in ("Session", "SubjectAssessor"):
            return "experiment", obj.id
        return obj.type.lower(), obj.id

    def owner_of(self, obj: XnatObject) -> tuple[str, str]:
        """(owner_type, owner_id) of the resources that belong to ``obj``."""
        return self._owner(obj)

    # -- walking the hierarchy (the §1.5 derivation matrix) -------------------------------------

    def derive(self, parent: XnatObject, wanted: str) -> list[XnatObject]:
        """Objects of type ``wanted`` reachable from ``parent`` (empty if the pair is not in
        the matrix, as CS logs "cannot be derived" and resolves to nothing)."""
        ptype = parent.type
        store = self.store
        if wanted == "Project" and ptype in ("Subject", "Session", "SubjectAssessor", "Scan",
                                             "Assessor", "ProjectAsset"):
            return [self.project(store.get_project(parent.project))]
        if wanted == "Subject":
            if ptype == "Project":
                return [self.subject(s) for s in store.list_subjects(parent.id)]
            if ptype in ("Session", "SubjectAssessor") and parent.record.subject_id:
                return [self.subject(store.get_subject(parent.record.subject_id))]
        if wanted == "SubjectAssessor" and ptype == "Subject":
            return [self.experiment(e) for e in store.list_experiments(subject_id=parent.id)]
        if wanted == "Session":
            if ptype == "Subject":
                return [o for o in (self.experiment(e) for e in
                                    store.list_experiments(subject_id=parent.id))
                        if o.type == "Session"]
            if ptype == "Scan":
                return [self.experiment(store.get_experiment(parent.record.session_id))]
            if ptype == "Assessor":
                return [self.experiment(store.get_experiment(parent.record.session_id))]
        if wanted == "Scan":
            if ptype == "Session":
                return [self.scan(s, parent.record) for s in store.list_scans(parent.id)]
            if ptype == "Resource" and parent.parent is not None and parent.parent.type == "Scan":
                return [parent.parent]
        if wanted == "Assessor" and ptype == "Session":
            return [self.experiment(e) for e in
                    store.list_experiments(session_id=parent.id, assessors=True)]
        if wanted == "Resource" and ptype in ("Project", "Subject", "Session", "SubjectAssessor",
                                              "Scan", "Assessor", "ProjectAsset"):
            return [self.resource(r, parent) for r in store.list_resources(*self._owner(parent))]
        return []

    # -- files --------------------------------------------------------------------------------

    def copy_files(self, obj: XnatObject, dest: Path) -> list[str]:
        """Copy ``obj``'s files into ``dest`` laid out like its archive directory.

        A Resource: its files. A Scan: ``<label>/<files>`` per resource. A Session or
        Assessor: ``RESOURCES/<label>``, ``SCANS/<scan>/<label>`` (and ``ASSESSORS/...``).
        A Project: ``resources/<label>`` and ``arc001/<session label>/...`` for its sessions.
        """
        dest.mkdir(parents=True, exist_ok=True)
        copied: list[str] = []

        def put(res: Resource, folder: Path) -> None:
            src_root = self.store.resource_dir(res.id)
            for f in self.store.list_files(res.id):
                src = src_root / f.path
                if not src.is_file():
                    continue
                target = folder / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
                copied.append(str(target.relative_to(dest)))

        if obj.type == "Resource":
            put(obj.record, dest)
        elif obj.type == "Scan":
            for r in self.store.list_resources("scan", str(obj.record.pk)):
                put(r, dest / r.label)
        elif obj.type in ("Session", "SubjectAssessor", "Assessor"):
            self._copy_experiment(obj.record, dest, put)
        elif obj.type == "Project":
            for r in self.store.list_resources("project", obj.id):
                put(r, dest / "resources" / r.label)
            for e in self.store.list_experiments(project_id=obj.id):
                if e.project == obj.id:
                    self._copy_experiment(e, dest / "arc001" / e.label, put)
        elif obj.type == "Subject":
            raise ResolutionError("A Subject cannot be mounted.")
        return copied

    def _copy_experiment(self, e: Experiment, folder: Path, put) -> None:
        owner = ("assessor", e.id) if e.session_id else ("experiment", e.id)
        for r in self.store.list_resources(*owner):
            put(r, folder / "RESOURCES" / r.label)
        if not e.session_id:
            for s in self.store.list_scans(e.id):
                for r in self.store.list_resources("scan", str(s.pk)):
                    put(r, folder / "SCANS" / s.scan_id / r.label)
            for a in self.store.list_experiments(session_id=e.id, assessors=True):
                for r in self.store.list_resources("assessor", a.id):
                    put(r, folder / "ASSESSORS" / a.label / r.label)


# -- matchers: the JSONPath filter subset wrappers use -----------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<re>/(?:[^/\\]|\\.)*/i?)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<path>@(?:\.[A-Za-z0-9_-]+|\[\*\]|\[\d+\])*)
  | (?P<op>==|!=|=~|<=|>=|<|>|&&|\|\||!|\(|\)|\[|\]|,|\bnin\b|\bin\b|\bempty\b)
  | (?P<word>true|false|null)
)""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse matcher at {text[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _path_values(path: str, data: dict) -> list:
    values = [data]
    for step in re.findall(r"\.([A-Za-z0-9_-]+)|\[(\*|\d+)\]", path[1:]):
        key, index = step
        nxt = []
        for v in values:
            if key:
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif isinstance(v, list):
                nxt.extend(v if index == "*" else v[int(index):int(index) + 1])
        values = nxt
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, list) and "[*]" in path else [v])
    return flat


def matches(matcher: str | None, data: dict) -> bool:
    """Evaluate a wrapper input ``matcher`` (``@.label == 'DICOM'``,
    ``'DICOM' in @.resources[*].label``, ``@.scan-type in ['T1','MPRAGE']``, ``=~ /re/``,
    joined with ``&&``/``||``) on an object's JSON. An unparsable matcher matches nothing."""
    if not matcher or not matcher.strip():
        return True
    try:
        tokens = _tokens(matcher)
        value, pos = _or(tokens, 0, data)
        return bool(value) and pos == len(tokens)
    except (ValueError, IndexError, re.error):
        return False


def _or(t, i, d):
    return _joined(t, i, d, "||", _and)


def _and(t, i, d):
    return _joined(t, i, d, "&&", _unary)


def _joined(t, i, d, op, operand):
    """Left-fold a run of ``operand``s joined by ``op``; passing ``_and`` as the ``||``
    operand is what makes ``&&`` bind tighter. Every operand is parsed (no short cut), so
    the token position always advances past the whole run."""
    left, i = operand(t, i, d)
    while i < len(t) and t[i] == ("op", op):
        right, i = operand(t, i + 1, d)
        left = (left or right) if op == "||" else (left and right)
    return left, i


def _unary(t, i, d):
    if t[i] == ("op", "!"):
        value, i = _unary(t, i + 1, d)
        return not value, i
    if t[i] == ("op", "("):
        value, i = _or(t, i + 1, d)
        if t[i] != ("op", ")"):
            raise ValueError("missing )")
        return value, i + 1
    return _comparison(t, i, d)


def _operand(t, i, d):
    kind, text = t[i]
    if kind == "str":
        return ("value", bytes(text[1:-1], "utf-8").decode("unicode_escape")), i + 1
    if kind == "num":
        return ("value", float(text)), i + 1
    if kind == "word":
        return ("value", {"true": True, "false": False, "null": None}[text]), i + 1
    if kind == "re":
        flags = re.I if text.endswith("i") else 0
        return ("regex", re.compile(text[1:text.rindex("/")], flags)), i + 1
    if kind == "path":
        return ("path", _path_values(text, d)), i + 1
    if (kind, text) == ("op", "["):
        items_, i = [], i + 1
        while t[i] != ("op", "]"):
            (_, v), i = _operand(t, i, d)
            items_.append(v)
            if t[i] == ("op", ","):
                i += 1
        return ("value", items_), i + 1
    raise ValueError(f"unexpected {text!r}")


def _comparison(t, i, d):
    left, i = _operand(t, i, d)
    if i >= len(t) or t[i][0] != "op" or t[i][1] in ("&&", "||", ")"):
        if left[0] == "path":
            return any(v not in (None, False, "", []) for v in left[1]), i
        return bool(left[1]), i
    op = t[i][1]
    right, i = _operand(t, i + 1, d)

    def scalars(side):
        kind, v = side
        if kind == "path":
            return v
        return [v]

    def norm(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return v if isinstance(v, (list, dict)) or v is None else str(v)

    lv, rv = scalars(left), scalars(right)
    if op in ("in", "nin"):
        container = right[1] if right[0] == "value" else rv
        container = container if isinstance(container, list) else [container]
        found = any(norm(a) in [norm(b) for b in container] for a in lv)
        return (found if op == "in" else not found), i
    if op == "=~":
        regex = right[1] if right[0] == "regex" else re.compile(str(right[1]))
        return any(isinstance(a, str) and regex.search(a) for a in lv), i
    if op in ("==", "!="):
        equal = any(norm(a) == norm(b) for a in lv for b in rv)
        return (equal if op == "==" else not equal), i
    try:
        pairs = [(float(a), float(b)) for a in lv for b in rv]
    except (TypeError, ValueError):
        return False, i
    compare = {"<": lambda a, b: a < b, ">": lambda a, b: a > b,
               "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}[op]
    return any(compare(a, b) for a, b in pairs), i


# -- resolution ---------------------------------------------------------------------------------

@dataclass
class ResolvedInput:
    name: str
    kind: str                 # wrapper-external | wrapper-derived | command
    type: str
    value: str | None
    obj: XnatObject | None = None
    sensitive: bool = False


@dataclass
class ResolvedMount:
    name: str
    container_path: str
    host_path: Path
    writable: bool
    input_name: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class ResolvedOutput:
    name: str
    mount: str
    path: str
    required: bool
    handler: str
    handler_type: str
    label: str
    parent_input: str | None   # the wrapper input the upload goes under
    parent_handler: str | None
    format: str = ""
    description: str = ""
    content: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class ResolvedCommand:
    command: dict
    wrapper: dict
    project: str | None
    raw_params: dict[str, str]
    inputs: list[ResolvedInput]
    command_line: str                   # with container paths, as CS shows it
    environment: dict[str, str]
    secrets: dict[str, str]             # destination env name -> value (never serialised)
    mounts: list[ResolvedMount]
    outputs: list[ResolvedOutput]
    working_directory: str | None
    root: XnatObject | None

    def input(self, name: str) -> ResolvedInput | None:
        return next((i for i in self.inputs if i.name == name), None)


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"  # Boolean.parseBoolean


def _command_line_value(inp: dict, value: str | None) -> str:
    """``getValueForCommandLine``: boolean true/false-value, flag + separator, delimiter."""
    if value is None:
        return ""
    itype = inp.get("type", "string")
    if itype == "boolean":
        if _is_true(value):
            value = inp.get("true-value") if inp.get("true-value") is not None else value
        else:
            value = inp.get("false-value") if inp.get("false-value") is not None else value
    flag = inp.get("command-line-flag") or ""
    sep = inp.get("command-line-separator")
    sep = " " if sep is None else sep
    values = [value]
    if itype == "select-many" or value.startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list):
                values = [str(v) for v in parsed]
        except ValueError:
            pass
    if len(values) != 1 or itype == "select-many":
        delim = inp.get("multiple-delimiter") or "space"
        if delim == "flag":
            return " ".join(f"{flag}{sep}{v}" if flag else v for v in values)
        if delim == "comma":
            joined = ",".join(values)
        elif delim == "quoted-space":
            joined = " ".join(f'"{v}"' for v in values)
        else:
            joined = " ".join(values)
        return f"{flag}{sep}{joined}" if flag and joined else joined
    if value == "":
        return ""
    return f"{flag}{sep}{value}" if flag else value


def _check_illegal(name: str, value: str | None) -> None:
    if value is None:
        return
    for bad in ILLEGAL_INPUT_STRINGS:
        if bad in value:
            raise ResolutionError(f'Input "{name}" has a value containing illegal string "{bad}".')


def _template(text: str | None, values: dict[str, str]) -> str | None:
    """``resolveTemplate``: plain replacement of every key (unset inputs become "")."""
    if text is None:
        return None
    for key, value in values.items():
        text = text.replace(key, value or "")
    return text


def resolve(command: dict, wrapper: dict, params: dict[str, str], catalog: Catalog, *,
            project: str | None, build_dir: Path, system_properties: dict[str, str],
            user_cache: Path | None = None) -> ResolvedCommand:
    """Resolve ``wrapper`` of ``command`` for a launch with ``params`` (§1.5, §1.8).

    Creates the mount directories under ``build_dir`` (input mounts filled with copies of the
    object's files and made read-only unless writable; output mounts empty and writable).
    Raises ResolutionError with CS's message when the launch must fail.
    """
    params = {k: ("" if v is None else str(v)) for k, v in params.items()}
    resolved: dict[str, ResolvedInput] = {}
    cmd_inputs = {i["name"]: i for i in command.get("inputs", [])}
    provided_by: dict[str, str] = {}   # command input -> wrapper input
    root: XnatObject | None = None

    for n, inp in enumerate(wrapper.get("external-inputs", [])):
        name, itype = inp["name"], inp.get("type", "string")
        value = params.get(name, inp.get("default-value"))
        value = None if value in (None, "") else value
        obj = None
        if value is not None and itype in OBJECT_TYPES:
            obj = catalog.resolve(value, itype)
            if not matches(inp.get("matcher"), obj.data):
                raise ResolutionError(f'Input "{name}" value "{value}" does not match '
                                      f'matcher "{inp.get("matcher")}".')
            value = obj.uri
            if n == 0:
                root = obj
        if value is None and inp.get("required", True) is not False:
            raise ResolutionError(f'Input "{name}" is required but did not receive a value.')
        _check_illegal(name, value)
        resolved[name] = ResolvedInput(name, "wrapper-external", itype, value, obj,
                                       bool(inp.get("sensitive")))

    for inp in wrapper.get("derived-inputs", []):
        name, itype = inp["name"], inp.get("type", "string")
        parent = resolved.get(inp.get("derived-from-wrapper-input"))
        value, obj = None, None
        if parent is not None and parent.obj is not None:
            prop = inp.get("derived-from-xnat-object-property")
            if itype in OBJECT_TYPES:
                found = [o for o in catalog.derive(parent.obj, itype)
                         if matches(inp.get("matcher"), o.data)]
                if inp.get("multiple"):
                    value = json.dumps([o.uri for o in found]) if found else None
                elif found:
                    obj = found[0]
                    value = obj.uri
            elif itype == "string":
                if prop:
                    raw = parent.obj.data.get(prop)
                    value = None if raw is None else (
                        json.dumps(raw) if isinstance(raw, (list, dict)) else str(raw))
                    if value is not None and inp.get("parser"):
                        m = re.search(inp["parser"], value)
                        value = (m.group(1) if m.groups() else m.group(0)) if m else None
                else:
                    value = parent.obj.uri
            elif itype == "Directory" and parent.obj.type == "Resource":
                value = parent.obj.data["directory"]
            elif itype in ("File", "File[]") and parent.obj.type == "Resource":
                files = parent.obj.data["files"]
                value = json.dumps([f["uri"] for f in files]) if itype == "File[]" else (
                    files[0]["uri"] if files else None)
        if name in params and itype not in OBJECT_TYPES and inp.get("user-settable", True):
            value = params[name] or value
        if value is None and inp.get("default-value") is not None:
            value = inp["default-value"]
        if value is None and inp.get("required", True) is not False:
            raise ResolutionError(f'Input "{name}" is required but could not be derived '
                                  f'from "{inp.get("derived-from-wrapper-input")}".')
        _check_illegal(name, value)
        resolved[name] = ResolvedInput(name, "wrapper-derived", itype, value, obj,
                                       bool(inp.get("sensitive")))

    for inp in list(wrapper.get("external-inputs", [])) + list(wrapper.get("derived-inputs", [])):
        target = inp.get("provides-value-for-command-input")
        if target:
            provided_by[target] = inp["name"]

    cmd_values: dict[str, str | None] = {}
    for name, inp in cmd_inputs.items():
        value = inp.get("default-value")
        if name in params:
            value = params[name]
        if name in provided_by and resolved[provided_by[name]].value is not None:
            value = resolved[provided_by[name]].value
        value = None if value == "" and inp.get("type") != "string" else value
        if value in (None, "") and inp.get("required"):
            raise ResolutionError(f'Command input "{name}" is required but did not receive '
                                  "a value.")
        _check_illegal(name, value)
        cmd_values[name] = value

    secrets = _resolve_secrets(command, system_properties)
    all_values: dict[str, str] = {}
    for inp in list(wrapper.get("external-inputs", [])) + list(wrapper.get("derived-inputs", [])):
        all_values[inp.get("replacement-key") or f"#{inp['name']}#"] = \
            resolved[inp["name"]].value or ""
    for name, inp in cmd_inputs.items():
        all_values[inp.get("replacement-key") or f"#{name}#"] = cmd_values[name] or ""
    for inp_name, value in list(cmd_values.items()) + [(r.name, r.value) for r in
                                                       resolved.values()]:
        for dest in secrets:
            if value and dest in value:
                raise ResolutionError(f'Input "{inp_name}" resolved value "{value}" refers to '
                                      f'secret destination "{dest}"')

    mounts = _resolve_mounts(command, wrapper, resolved, catalog, build_dir, all_values)
    cl_values = {(inp.get("replacement-key") or f"#{name}#"): _command_line_value(
        inp, cmd_values[name]) for name, inp in cmd_inputs.items()}
    _copy_file_inputs(cmd_inputs, cmd_values, mounts, cl_values, user_cache)
    command_line = _template(command.get("command-line") or "", cl_values)
    environment = {_template(k, all_values): _template(v, all_values)
                   for k, v in (command.get("environment-variables") or {}).items()}
    working_directory = _template(command.get("working-directory"), all_values)
    outputs = _resolve_outputs(command, wrapper, all_values)
    inputs = list(resolved.values()) + [
        ResolvedInput(name, "command", inp.get("type", "string"), cmd_values[name], None,
                      bool(inp.get("sensitive")) or any(
                          resolved[w].sensitive for c, w in provided_by.items() if c == name))
        for name, inp in cmd_inputs.items()]
    return ResolvedCommand(command, wrapper, project, dict(params), inputs, command_line,
                           environment, secrets, mounts, outputs, working_directory, root)


def _resolve_secrets(command: dict, system_properties: dict[str, str]) -> dict[str, str]:
    out = {}
    for secret in command.get("secrets") or []:
        prop = secret["source"]["identifier"]
        dest = secret["destination"]["identifier"]
        if prop not in system_properties:
            raise ResolutionError(f'Did not obtain value for secret with source "{prop}"')
        out[dest] = system_properties[prop]
    return out


def _resolve_mounts(command, wrapper, resolved, catalog, build_dir, values) -> list[ResolvedMount]:
    feeders: dict[str, ResolvedInput] = {}
    for inp in list(wrapper.get("external-inputs", [])) + list(wrapper.get("derived-inputs", [])):
        target = inp.get("provides-files-for-command-mount")
        if target:
            feeders[target] = resolved[inp["name"]]
    mounts = []
    for mount in command.get("mounts", []):
        host = build_dir / "mounts" / mount["name"]
        host.mkdir(parents=True, exist_ok=True)
        path = _template(mount["path"], values)
        feeder = feeders.get(mount["name"])
        if feeder is not None and feeder.value is not None:
            if feeder.obj is None:
                if feeder.value.startswith("["):
                    raise ResolutionError(f'Input "{feeder.name}" has multiple resolved values. '
                                          "We can only use inputs with a single resolved value.")
                raise ResolutionError(f'Input "{feeder.name}" of type "{feeder.type}" cannot '
                                      "provide files for a mount.")
            if feeder.obj.type not in MOUNTABLE_TYPES:
                raise ResolutionError(f'Cannot mount input "{feeder.name}" of type '
                                      f'"{feeder.obj.type}".')
            copied = catalog.copy_files(feeder.obj, host)
            writable = bool(mount.get("writable"))
            if not writable:
                make_read_only(host)
            mounts.append(ResolvedMount(mount["name"], path, host, writable, feeder.name, copied))
        else:
            mounts.append(ResolvedMount(mount["name"], path, host, True))
    return mounts


def _copy_file_inputs(cmd_inputs, cmd_values, mounts, cl_values, user_cache) -> None:
    """``copyInputFilesToBuildDir``: a ``file`` input's user-cache upload goes into the first
    writable mount at ``<ts>/<name>``, and the command line gets that container path."""
    target = next((m for m in mounts if m.writable), None)
    for name, inp in cmd_inputs.items():
        value = cmd_values.get(name)
        if inp.get("type") != "file" or not value or target is None or user_cache is None:
            continue
        m = re.match(r"^/?(?:data/)?user/cache/resources/([^/]+)/files/(.+)$", value)
        if not m:
            continue
        resource, filename = m.group(1), m.group(2)
        src = user_cache / resource / filename
        if not src.is_file():
            continue
        dest = target.host_path / resource / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        container_path = target.container_path.rstrip("/") + f"/{resource}/{filename}"
        cl_values[inp.get("replacement-key") or f"#{name}#"] = _command_line_value(
            inp, container_path)


def _resolve_outputs(command, wrapper, values) -> list[ResolvedOutput]:
    by_name = {o["name"]: o for o in command.get("outputs", [])}
    outs = []
    handler_names = set()
    for handler in wrapper.get("output-handlers", []):
        out = by_name.get(handler.get("accepts-command-output"))
        if out is None:
            continue
        parent = handler.get("as-a-child-of")
        outs.append(ResolvedOutput(
            name=out["name"], mount=out["mount"], path=_template(out.get("path") or "", values),
            required=bool(out.get("required")), handler=handler["name"],
            handler_type=handler.get("type", "Resource"),
            label=_template(handler.get("label") or "", values),
            parent_input=None if parent in handler_names else parent,
            parent_handler=parent if parent in handler_names else None,
            format=handler.get("format") or "", description=handler.get("description") or "",
            content=handler.get("content") or "", tags=list(handler.get("tags") or [])))
        handler_names.add(handler["name"])
    return outs


def make_read_only(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for f in files:
            os.chmod(os.path.join(root, f), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    for root, dirs, _ in os.walk(folder, topdown=False):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o555)
    os.chmod(folder, 0o555)


def make_writable(folder: Path) -> None:
    if not folder.exists():
        return
    os.chmod(folder, 0o755)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


# -- the process that stands in for the container ------------------------------------------------

def translate_paths(text: str, mounts: list[ResolvedMount]) -> str:
    """Container paths (``/output/report``) to the mount directories on this host."""
    for m in sorted(mounts, key=lambda m: len(m.container_path or ""), reverse=True):
        cpath = (m.container_path or "").rstrip("/")
        if not cpath:
            continue
        pattern = re.compile(r"(?<![A-Za-z0-9_.\-/])" + re.escape(cpath) + r"(?![A-Za-z0-9_.\-])")
        text = pattern.sub(lambda _: str(m.host_path), text)
    return text


def build_argv(resolved: ResolvedCommand, entrypoint: list[str] | None,
               path: str | None = None) -> list[str]:
    """§4.2: ``override-entrypoint`` -> ``/bin/sh -c``; else the image entrypoint + args.

    ``entrypoint`` None stands for the project image's ``docker-entrypoint``: the words run
    as they are when the first one is a program on ``path``, else as ``xnat-container``
    arguments; ``xnat-container`` itself runs as this Python's ``-m xnat_container``.
    """
    line = translate_paths(resolved.command_line, resolved.mounts)
    if resolved.command.get("override-entrypoint"):
        return ["/bin/sh", "-c", line]
    args = shlex.split(line)
    if entrypoint:
        return list(entrypoint) + args
    xnat_container = [sys.executable, "-m", "xnat_container"]
    if not args:
        return xnat_container + ["--help"]
    if args[0] == "xnat-container":
        return xnat_container + args[1:]
    if args[0].startswith("-") or shutil.which(args[0], path=path) is None:
        return xnat_container + args
    return args


def build_environment(resolved: ResolvedCommand, *, host: str, user: str, password: str,
                      workflow_id: str, event_id: str, base: dict[str, str] | None = None,
                      bin_dir: str | None = None) -> dict[str, str]:
    """What the job sees (§4.1): the command's variables and secrets, then the reserved
    ``XNAT_*`` variables, which nothing overrides."""
    env = dict(base if base is not None else os.environ)
    for key in [k for k in env if k.startswith(("XNAT_", "REMOTE_XNAT_"))]:
        del env[key]
    if bin_dir:
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for key, value in resolved.environment.items():
        env[key] = translate_paths(value, resolved.mounts)
    env.update(resolved.secrets)
    env.update({"XNAT_HOST": host, "XNAT_USER": user, "XNAT_PASS": password,
                "XNAT_WORKFLOW_ID": workflow_id, "XNAT_EVENT_ID": event_id})
    return env
