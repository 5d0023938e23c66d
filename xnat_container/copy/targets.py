"""Where things go on the target: label-based URLs, and documents named as XNAT expects.

Objects are written by label under the target project (``/data/projects/P/subjects/S/...``),
which makes every create idempotent: a second PUT of the same label updates, it never
duplicates.
"""

from __future__ import annotations

from .. import tree
from ..interrupt import Interrupted
from ..xnat.client import XnatClient
from ..xnat.errors import CircuitOpen, ConnectionFailed
from .metadata import XSI_NS, parse

COLLECTION = {"subject": "subjects", "experiment": "experiments", "scan": "scans",
              "assessor": "assessors"}
XS = "http://www.w3.org/2001/XMLSchema"


def object_path(project: str, where: tuple[str, ...]) -> str:
    parts = [f"/data/projects/{project}"]
    for kind, value in zip(where[::2], where[1::2]):
        parts.append(f"{COLLECTION[kind]}/{value}")
    return "/".join(parts)


def resource_path(project: str, where: tuple[str, ...], resource: tree.Resource) -> str:
    io = f"/{resource.io}" if resource.io else ""
    return f"{object_path(project, where)}{io}/resources/{resource.label}"


class ElementNames:
    """Type -> global element name (``xnat:mrScanData`` -> ``xnat:MRScan``), from the
    target's own schemas, so a scan exported nested as ``<xnat:scan xsi:type=...>`` is sent
    as the document root XNAT's parser expects."""

    def __init__(self, client: XnatClient):
        self.names: dict[str, tuple[str, str]] = {}   # type -> (namespace, element name)
        try:
            schemas = client.get_json("/xapi/schemas")
        except (ConnectionFailed, CircuitOpen, Interrupted):
            raise           # the site is gone: say so, do not guess names
        except Exception:  # noqa: BLE001 - an older XNAT without the endpoint: keep tags
            return
        for name in schemas if isinstance(schemas, list) else []:
            try:
                self._learn(parse(client.get_bytes(f"/xapi/schemas/{name}")))
            except (ConnectionFailed, CircuitOpen, Interrupted):
                raise       # not one schema after another, each waiting out its retries
            except Exception:  # noqa: BLE001 - one unreadable schema costs only its names
                continue

    def _learn(self, schema) -> None:
        target_ns = schema.get("targetNamespace", "")
        prefixes = {v: k for k, v in schema.nsmap.items() if k}
        prefix = prefixes.get(target_ns, "")
        for el in schema.findall(f"{{{XS}}}element"):
            type_name, name = el.get("type", ""), el.get("name")
            if name and ":" in type_name:
                self.names[f"{prefix}:{type_name.split(':', 1)[1]}"] = (target_ns, name)

    def as_root(self, element, xsi_type: str):
        """The element renamed to its type's global element, ``xsi:type`` dropped."""
        found = self.names.get(xsi_type)
        if found is None:
            return element
        namespace, name = found
        element.tag = f"{{{namespace}}}{name}"
        element.attrib.pop(f"{{{XSI_NS}}}type", None)
        return element

