"""The XNAT hierarchy as plain data, the same for every reader (XNAT project, NIFTI folder).

Objects are keyed by what identifies them on any XNAT: labels for subjects, experiments and
assessors, IDs for scans, labels for resources, relative paths for files. Accession IDs are
site-specific and only kept to remap references. Metadata is the object's own XML document,
already cleaned of IDs and child collections (see ``copy/metadata.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator


@dataclass
class File:
    """A file of a resource: its path inside the resource, size, MD5, and how to read it."""

    path: str
    size: int
    md5: str = ""                     # empty when the site has checksums off
    uri: str = ""                     # where to read it on the source XNAT (server path)
    open: Callable[[], BinaryIO] | None = field(default=None, repr=False, compare=False)
    format: str = field(default="", compare=False)    # catalog entry's own format / content
    content: str = field(default="", compare=False)   # (else the resource's are sent)


@dataclass
class Resource:
    label: str
    format: str = ""
    content: str = ""
    tags: str = ""
    description: str = ""
    io: str = ""                      # assessor resources: "in" / "out" / "" (plain resources)
    files: dict[str, File] = field(default_factory=dict)
    uri: str = ""                     # resource URI on its XNAT (id-based), for zip downloads
    expected_files: int | None = None  # file_count the server reported, when it did

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    @property
    def key(self) -> str:
        """Unique among an object's resources: an assessor may have "in" and "out" ones."""
        return resource_key(self.label, self.io)


def resource_key(label: str, io: str = "") -> str:
    return f"{io}/{label}" if io else label


@dataclass
class Item:
    """What every object has: a type, its metadata document, its resources."""

    xsi_type: str
    xml: bytes = b""
    resources: dict[str, Resource] = field(default_factory=dict)
    source_id: str = ""               # accession ID (or scan ID) where it was read


@dataclass
class Scan(Item):
    id: str = ""


@dataclass
class Assessor(Item):
    label: str = ""


@dataclass
class Experiment(Item):
    label: str = ""
    scans: dict[str, Scan] = field(default_factory=dict)
    assessors: dict[str, Assessor] = field(default_factory=dict)


@dataclass
class Subject(Item):
    label: str = ""
    experiments: dict[str, Experiment] = field(default_factory=dict)


CHILDREN = {"subject": "subjects", "experiment": "experiments", "scan": "scans",
            "assessor": "assessors"}


@dataclass
class Shared:
    """An object shared into the project from another: skipped unless asked for."""

    kind: str                          # "subject" | "experiment"
    label: str
    owner_project: str


@dataclass
class Project(Item):
    id: str = ""
    subjects: dict[str, Subject] = field(default_factory=dict)
    shared: list[Shared] = field(default_factory=list)

    def find(self, where: tuple[str, ...]) -> Item | None:
        """The object at ``where`` (("subject", S, "experiment", E, "scan", ID)...), or None."""
        item: Item | None = self
        for kind, value in zip(where[::2], where[1::2]):
            item = getattr(item, CHILDREN[kind]).get(value)
            if item is None:
                return None
        return item

    def walk_resources(self) -> Iterator[tuple[tuple[str, ...], Resource]]:
        """Every resource with its location: ("subject", S, "experiment", E, "scan", ID)..."""
        for res in self.resources.values():
            yield (), res
        for s in self.subjects.values():
            for res in s.resources.values():
                yield ("subject", s.label), res
            for e in s.experiments.values():
                where = ("subject", s.label, "experiment", e.label)
                for res in e.resources.values():
                    yield where, res
                for scan in e.scans.values():
                    for res in scan.resources.values():
                        yield where + ("scan", scan.id), res
                for a in e.assessors.values():
                    for res in a.resources.values():
                        yield where + ("assessor", a.label), res
