"""Where things go on the target: label-based URLs, and documents named as XNAT expects.

Objects are written by label under the target project (``/data/projects/P/subjects/S/...``),
which makes every create idempotent: a second PUT of the same label updates, it never
duplicates.
"""

from __future__ import annotations

import threading

from .. import tree
from ..interrupt import Interrupted
from ..xnat.client import XnatClient
from ..xnat.errors import CircuitOpen, ConnectionFailed
from .metadata import XSI_NS, parse

XS = "http://www.w3.org/2001/XMLSchema"


def object_path(project: str, where: tuple[str, ...]) -> str:
    parts = [f"/data/projects/{project}"]
    for kind, value in zip(where[::2], where[1::2]):
        parts.append(f"{tree.CHILDREN[kind]}/{value}")
    return "/".join(parts)


def resource_path(project: str, where: tuple[str, ...], resource: tree.Resource) -> str:
    io = f"/{resource.io}" if resource.io else ""
    return f"{object_path(project, where)}{io}/resources/{resource.label}"


class ElementNames:
    """Type -> global element name (``xnat:mrScanData`` -> ``xnat:MRScan``), from the
    target's own schemas, so a scan exported nested as ``<xnat:scan xsi:type=...>`` is sent
    as the document root XNAT's parser expects. Schemas are read as types come: the one
    named by the type's prefix first (``xnat`` for ``xnat:mrScanData``), the others only
    for a type it does not declare; most runs read two documents, not sixteen."""

    def __init__(self, client: XnatClient):
        self.client = client
        self.names: dict[str, tuple[str, str]] = {}   # type -> (namespace, element name)
        self._unread: list[str] | None = None          # schemas not read yet (None: unlisted)
        self._lock = threading.Lock()

    def as_root(self, element, xsi_type: str):
        """The element renamed to its type's global element, ``xsi:type`` dropped."""
        found = self._lookup(xsi_type)
        if found is None:
            return element
        namespace, name = found
        element.tag = f"{{{namespace}}}{name}"
        element.attrib.pop(f"{{{XSI_NS}}}type", None)
        return element

    def _lookup(self, xsi_type: str) -> tuple[str, str] | None:
        with self._lock:
            if self._unread is None:
                self._unread = self._schema_names()
            prefix = xsi_type.split(":", 1)[0]
            while xsi_type not in self.names and self._unread:
                name = prefix if prefix in self._unread else self._unread[0]
                self._read(name)    # a connection failure raises: the schema stays unread
                self._unread.remove(name)
            return self.names.get(xsi_type)

    def _schema_names(self) -> list[str]:
        try:
            schemas = self.client.get_json("/xapi/schemas")
        except (ConnectionFailed, CircuitOpen, Interrupted):
            raise           # the site is gone: say so, do not guess names
        except Exception:  # noqa: BLE001 - an older XNAT without the endpoint: keep tags
            return []
        return [name for name in schemas if isinstance(name, str)] \
            if isinstance(schemas, list) else []

    def _read(self, name: str) -> None:
        try:
            schema = parse(self.client.get_bytes(f"/xapi/schemas/{name}"))
        except (ConnectionFailed, CircuitOpen, Interrupted):
            raise       # not one schema after another, each waiting out its retries
        except Exception:  # noqa: BLE001 - one unreadable schema costs only its names
            return
        target_ns = schema.get("targetNamespace", "")
        prefixes = {v: k for k, v in schema.nsmap.items() if k}
        prefix = prefixes.get(target_ns, "")
        for el in schema.findall(f"{{{XS}}}element"):
            type_name, element_name = el.get("type", ""), el.get("name")
            if element_name and ":" in type_name:
                self.names[f"{prefix}:{type_name.split(':', 1)[1]}"] = (target_ns,
                                                                       element_name)
