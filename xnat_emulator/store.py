"""Archive state: metadata rows in SQLite, file bytes on disk under ``DATA_DIR/archive``.

The store knows rows, IDs, labels, uniqueness and where bytes live. It knows nothing of HTTP
and treats each object's XML document as opaque text (``items.py`` owns the XML rules).
Every public method runs in one transaction under one lock, so the threaded server sees a
consistent archive; file bytes are written outside the lock (see ``files.py``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .errors import Conflict, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, secondary_id TEXT, name TEXT, description TEXT,
    accessibility TEXT NOT NULL DEFAULT 'private', xml TEXT NOT NULL,
    insert_date TEXT NOT NULL, insert_user TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS project_aliases (alias TEXT PRIMARY KEY, project TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS project_users (
    project TEXT NOT NULL, login TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (project, login));
CREATE TABLE IF NOT EXISTS subjects (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, label TEXT NOT NULL, xml TEXT NOT NULL,
    insert_date TEXT NOT NULL, insert_user TEXT NOT NULL, last_modified TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS subjects_label ON subjects (project, label);
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, label TEXT NOT NULL, xsi_type TEXT NOT NULL,
    subject_id TEXT, session_id TEXT, date TEXT NOT NULL DEFAULT '', xml TEXT NOT NULL,
    insert_date TEXT NOT NULL, insert_user TEXT NOT NULL, last_modified TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS experiments_label ON experiments (project, label);
CREATE INDEX IF NOT EXISTS experiments_subject ON experiments (subject_id);
CREATE INDEX IF NOT EXISTS experiments_session ON experiments (session_id);
CREATE TABLE IF NOT EXISTS shares (
    item_id TEXT NOT NULL, project TEXT NOT NULL, label TEXT NOT NULL,
    PRIMARY KEY (item_id, project));
CREATE INDEX IF NOT EXISTS shares_project ON shares (project);
CREATE TABLE IF NOT EXISTS scans (
    pk INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, scan_id TEXT NOT NULL,
    xsi_type TEXT NOT NULL, xml TEXT NOT NULL,
    insert_date TEXT NOT NULL, insert_user TEXT NOT NULL, last_modified TEXT NOT NULL,
    UNIQUE (session_id, scan_id));
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL,
    io TEXT NOT NULL DEFAULT '', label TEXT NOT NULL, format TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '', element_name TEXT NOT NULL DEFAULT 'xnat:resourceCatalog',
    insert_date TEXT NOT NULL,
    UNIQUE (owner_type, owner_id, label));
CREATE TABLE IF NOT EXISTS files (
    resource_id INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT NOT NULL, format TEXT NOT NULL DEFAULT '', content TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '', mtime REAL NOT NULL,
    PRIMARY KEY (resource_id, path));
CREATE TABLE IF NOT EXISTS tokens (
    alias TEXT PRIMARY KEY, secret TEXT NOT NULL, login TEXT NOT NULL, id INTEGER NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL, valid INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS deleted_projects (id TEXT PRIMARY KEY);
"""

# Owner types of resources, as XNAT's catalog ``category`` names them.
OWNER_TYPES = ("project", "subject", "experiment", "scan", "assessor")


def now_timestamp() -> str:
    """``java.sql.Timestamp.toString()`` style: ``2017-03-02 09:57:35.695``."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class Project:
    id: str
    secondary_id: str
    name: str
    description: str
    accessibility: str
    xml: str
    insert_date: str
    insert_user: str


@dataclass
class Subject:
    id: str
    project: str
    label: str
    xml: str
    insert_date: str
    insert_user: str
    last_modified: str


@dataclass
class Experiment:
    """A subject assessor (session or not) or, with ``session_id`` set, an image assessor."""

    id: str
    project: str
    label: str
    xsi_type: str
    subject_id: str | None
    session_id: str | None
    date: str
    xml: str
    insert_date: str
    insert_user: str
    last_modified: str


@dataclass
class Scan:
    pk: int
    session_id: str
    scan_id: str
    xsi_type: str
    xml: str
    insert_date: str
    insert_user: str
    last_modified: str


@dataclass
class Resource:
    id: int
    owner_type: str
    owner_id: str
    io: str
    label: str
    format: str
    content: str
    description: str
    tags: str
    element_name: str
    insert_date: str


@dataclass
class FileEntry:
    resource_id: int
    path: str
    size: int
    md5: str
    format: str
    content: str
    tags: str
    mtime: float


def _site_prefix(site_id: str) -> str:
    """XNAT's IDGenerator strips spaces, quotes and ``^`` and turns ``-`` into ``_``."""
    return re.sub(r"[\s'\"^]", "", site_id).replace("-", "_")


class Store:
    def __init__(self, data_dir: Path, site_id: str = "XNAT"):
        self.data_dir = Path(data_dir)
        self.archive_dir = self.data_dir / "archive"
        self.tmp_dir = self.data_dir / "tmp"
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.site_prefix = _site_prefix(site_id)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.data_dir / "archive.sqlite", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nests (inner calls join the outer transaction)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, args=()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _next_accession(self, db: sqlite3.Connection, kind: str) -> str:
        """Next free ``{site}_S00001`` / ``{site}_E00001`` (experiments and assessors share E)."""
        table = "subjects" if kind == "S" else "experiments"
        row = db.execute("SELECT value FROM counters WHERE name=?", (kind,)).fetchone()
        n = row["value"] if row else 0
        while True:
            n += 1
            candidate = f"{self.site_prefix}_{kind}{n:05d}"
            if not db.execute(f"SELECT 1 FROM {table} WHERE id=?", (candidate,)).fetchone():
                break
        db.execute(
            "INSERT INTO counters(name, value) VALUES(?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (kind, n),
        )
        return candidate

    # -- projects ---------------------------------------------------------------------------

    def get_project(self, id_or_alias: str) -> Project | None:
        row = self._one("SELECT * FROM projects WHERE id=?", (id_or_alias,))
        if row is None:
            row = self._one(
                "SELECT p.* FROM projects p JOIN project_aliases a ON a.project=p.id "
                "WHERE a.alias=?",
                (id_or_alias,),
            )
        return Project(**row) if row else None

    def list_projects(self) -> list[Project]:
        return [Project(**r) for r in self._all("SELECT * FROM projects ORDER BY id")]

    def create_project(self, project: Project, aliases: list[str], owner: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO projects VALUES (?,?,?,?,?,?,?,?)",
                (project.id, project.secondary_id, project.name, project.description,
                 project.accessibility, project.xml, project.insert_date, project.insert_user),
            )
            self._set_aliases(db, project.id, aliases)
            db.execute("INSERT INTO project_users VALUES (?,?,?)", (project.id, owner, "owner"))

    def update_project(self, project: Project, aliases: list[str] | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE projects SET secondary_id=?, name=?, description=?, accessibility=?, "
                "xml=? WHERE id=?",
                (project.secondary_id, project.name, project.description,
                 project.accessibility, project.xml, project.id),
            )
            if aliases is not None:
                self._set_aliases(db, project.id, aliases)

    def _set_aliases(self, db: sqlite3.Connection, project_id: str, aliases: list[str]) -> None:
        db.execute("DELETE FROM project_aliases WHERE project=?", (project_id,))
        for alias in aliases:
            owner = db.execute(
                "SELECT project FROM project_aliases WHERE alias=? UNION "
                "SELECT id FROM projects WHERE id=? AND id<>?",
                (alias, alias, project_id),
            ).fetchone()
            if owner:
                raise Conflict(f"Alias {alias} is already in use.")
            db.execute("INSERT INTO project_aliases VALUES (?,?)", (alias, project_id))

    def project_aliases(self, project_id: str) -> list[str]:
        rows = self._all(
            "SELECT alias FROM project_aliases WHERE project=? ORDER BY alias", (project_id,)
        )
        return [r["alias"] for r in rows]

    def delete_project(self, project_id: str) -> list[int]:
        """Delete a project and everything it owns; returns the ids of resources removed."""
        with self.transaction() as db:
            removed: list[int] = []
            for row in db.execute("SELECT id FROM subjects WHERE project=?", (project_id,)):
                removed += self.delete_subject(row["id"])
            for row in db.execute(
                "SELECT id FROM experiments WHERE project=? AND session_id IS NULL", (project_id,)
            ):
                removed += self.delete_experiment(row["id"])
            removed += self._delete_resources(db, "project", project_id)
            db.execute("DELETE FROM shares WHERE project=?", (project_id,))
            db.execute("DELETE FROM project_aliases WHERE project=?", (project_id,))
            db.execute("DELETE FROM project_users WHERE project=?", (project_id,))
            db.execute("DELETE FROM projects WHERE id=?", (project_id,))
            # XNAT keeps deleted projects in its history table; their IDs cannot be reused
            db.execute("INSERT OR IGNORE INTO deleted_projects VALUES (?)", (project_id,))
            return removed

    def was_deleted_project(self, project_id: str) -> bool:
        return self._one("SELECT 1 FROM deleted_projects WHERE id=? COLLATE NOCASE",
                         (project_id,)) is not None

    def project_role(self, project_id: str, login: str) -> str | None:
        row = self._one(
            "SELECT role FROM project_users WHERE project=? AND login=?", (project_id, login)
        )
        return row["role"] if row else None

    def project_users(self, project_id: str) -> list[tuple[str, str]]:
        rows = self._all(
            "SELECT login, role FROM project_users WHERE project=? ORDER BY login", (project_id,)
        )
        return [(r["login"], r["role"]) for r in rows]

    def set_project_role(self, project_id: str, login: str, role: str | None) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM project_users WHERE project=? AND login=?", (project_id, login))
            if role:
                db.execute("INSERT INTO project_users VALUES (?,?,?)", (project_id, login, role))

    # -- subjects ---------------------------------------------------------------------------

    def get_subject(self, subject_id: str) -> Subject | None:
        row = self._one("SELECT * FROM subjects WHERE id=?", (subject_id,))
        return Subject(**row) if row else None

    def find_subject(self, project_id: str, label_or_id: str) -> Subject | None:
        """Label in the project, then an ID owned by or shared into it, then a shared label."""
        row = self._one(
            "SELECT * FROM subjects WHERE project=? AND label=?", (project_id, label_or_id)
        )
        if row is None:
            row = self._one(
                "SELECT s.* FROM subjects s LEFT JOIN shares h ON h.item_id=s.id AND h.project=? "
                "WHERE s.id=? AND (s.project=? OR h.project IS NOT NULL)",
                (project_id, label_or_id, project_id),
            )
        if row is None:
            row = self._one(
                "SELECT s.* FROM subjects s JOIN shares h ON h.item_id=s.id "
                "WHERE h.project=? AND h.label=?",
                (project_id, label_or_id),
            )
        if row is None:  # a subject shared in, by its original label (RT TestSharing)
            row = self._one(
                "SELECT s.* FROM subjects s JOIN shares h ON h.item_id=s.id "
                "WHERE h.project=? AND s.label=?",
                (project_id, label_or_id),
            )
        return Subject(**row) if row else None

    def list_subjects(self, project_id: str | None) -> list[Subject]:
        """Subjects owned by the project or shared into it (shared ones keep their own row)."""
        if project_id is None:
            rows = self._all("SELECT * FROM subjects ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM subjects WHERE project=? UNION "
                "SELECT s.* FROM subjects s JOIN shares h ON h.item_id=s.id WHERE h.project=? "
                "ORDER BY id",
                (project_id, project_id),
            )
        return [Subject(**r) for r in rows]

    def create_subject(self, project_id: str, label: str, xml: str, user: str) -> Subject:
        with self.transaction() as db:
            self._check_label_free(db, "subjects", project_id, label)
            sid = self._next_accession(db, "S")
            ts = now_timestamp()
            db.execute(
                "INSERT INTO subjects VALUES (?,?,?,?,?,?,?)",
                (sid, project_id, label, xml, ts, user, ts),
            )
            return self.get_subject(sid)

    def update_subject(self, subject: Subject) -> None:
        with self.transaction() as db:
            self._check_label_free(db, "subjects", subject.project, subject.label, subject.id)
            db.execute(
                "UPDATE subjects SET label=?, xml=?, project=?, last_modified=? WHERE id=?",
                (subject.label, subject.xml, subject.project, now_timestamp(), subject.id),
            )

    def delete_subject(self, subject_id: str) -> list[int]:
        with self.transaction() as db:
            removed: list[int] = []
            for row in db.execute(
                "SELECT id FROM experiments WHERE subject_id=? AND session_id IS NULL",
                (subject_id,),
            ).fetchall():
                removed += self.delete_experiment(row["id"])
            removed += self._delete_resources(db, "subject", subject_id)
            db.execute("DELETE FROM shares WHERE item_id=?", (subject_id,))
            db.execute("DELETE FROM subjects WHERE id=?", (subject_id,))
            return removed

    def _check_label_free(self, db, table, project_id, label, own_id=None) -> None:
        row = db.execute(
            f"SELECT id FROM {table} WHERE project=? AND label=?", (project_id, label)
        ).fetchone()
        if row and row["id"] != own_id:
            raise Conflict("Specified label is already in use.")

    # -- experiments and assessors ----------------------------------------------------------

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        row = self._one("SELECT * FROM experiments WHERE id=?", (experiment_id,))
        return Experiment(**row) if row else None

    def find_experiment(self, project_id: str, label_or_id: str) -> Experiment | None:
        row = self._one(
            "SELECT * FROM experiments WHERE project=? AND label=?", (project_id, label_or_id)
        )
        if row is None:
            row = self._one(
                "SELECT e.* FROM experiments e LEFT JOIN shares h "
                "ON h.item_id=e.id AND h.project=? "
                "WHERE e.id=? AND (e.project=? OR h.project IS NOT NULL)",
                (project_id, label_or_id, project_id),
            )
        if row is None:
            row = self._one(
                "SELECT e.* FROM experiments e JOIN shares h ON h.item_id=e.id "
                "WHERE h.project=? AND h.label=?",
                (project_id, label_or_id),
            )
        return Experiment(**row) if row else None

    def list_experiments(
        self,
        project_id: str | None = None,
        subject_id: str | None = None,
        session_id: str | None = None,
        assessors: bool = False,
    ) -> list[Experiment]:
        """Subject assessors (``assessors=False``) or image assessors of a project/subject/session."""
        where = ["session_id IS NOT NULL" if assessors else "session_id IS NULL"]
        args: list = []
        if subject_id is not None:
            where.append("subject_id=?")
            args.append(subject_id)
        if session_id is not None:
            where.append("session_id=?")
            args.append(session_id)
        sql = f"SELECT * FROM experiments WHERE {' AND '.join(where)}"
        if project_id is not None:
            sql = (
                f"SELECT * FROM experiments WHERE {' AND '.join(where)} AND project=? UNION "
                f"SELECT e.* FROM experiments e JOIN shares h ON h.item_id=e.id "
                f"WHERE {' AND '.join('e.' + w for w in where)} AND h.project=?"
            )
            args = args + [project_id] + args + [project_id]
        rows = self._all(sql + " ORDER BY id", args)
        return [Experiment(**r) for r in rows]

    def create_experiment(self, exp: Experiment) -> Experiment:
        """Insert with a fresh accession ID (``exp.id`` is ignored)."""
        with self.transaction() as db:
            self._check_label_free(db, "experiments", exp.project, exp.label)
            eid = self._next_accession(db, "E")
            ts = now_timestamp()
            db.execute(
                "INSERT INTO experiments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (eid, exp.project, exp.label, exp.xsi_type, exp.subject_id, exp.session_id,
                 exp.date, exp.xml, ts, exp.insert_user, ts),
            )
            return self.get_experiment(eid)

    def update_experiment(self, exp: Experiment) -> None:
        with self.transaction() as db:
            self._check_label_free(db, "experiments", exp.project, exp.label, exp.id)
            db.execute(
                "UPDATE experiments SET label=?, xsi_type=?, subject_id=?, date=?, xml=?, "
                "project=?, last_modified=? WHERE id=?",
                (exp.label, exp.xsi_type, exp.subject_id, exp.date, exp.xml, exp.project,
                 now_timestamp(), exp.id),
            )

    def delete_experiment(self, experiment_id: str) -> list[int]:
        with self.transaction() as db:
            removed: list[int] = []
            for row in db.execute(
                "SELECT id FROM experiments WHERE session_id=?", (experiment_id,)
            ).fetchall():
                removed += self.delete_experiment(row["id"])
            for row in db.execute(
                "SELECT pk FROM scans WHERE session_id=?", (experiment_id,)
            ).fetchall():
                removed += self._delete_resources(db, "scan", str(row["pk"]))
            db.execute("DELETE FROM scans WHERE session_id=?", (experiment_id,))
            kind = "assessor" if self._is_assessor(db, experiment_id) else "experiment"
            removed += self._delete_resources(db, kind, experiment_id)
            db.execute("DELETE FROM shares WHERE item_id=?", (experiment_id,))
            db.execute("DELETE FROM experiments WHERE id=?", (experiment_id,))
            return removed

    @staticmethod
    def _is_assessor(db, experiment_id: str) -> bool:
        row = db.execute(
            "SELECT session_id FROM experiments WHERE id=?", (experiment_id,)
        ).fetchone()
        return bool(row and row["session_id"])

    # -- sharing ----------------------------------------------------------------------------

    def shares(self, item_id: str) -> list[tuple[str, str]]:
        rows = self._all(
            "SELECT project, label FROM shares WHERE item_id=? ORDER BY project", (item_id,)
        )
        return [(r["project"], r["label"]) for r in rows]

    def share_label(self, item_id: str, project_id: str) -> str | None:
        row = self._one(
            "SELECT label FROM shares WHERE item_id=? AND project=?", (item_id, project_id)
        )
        return row["label"] if row else None

    def add_share(self, item_id: str, project_id: str, label: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO shares VALUES (?,?,?)", (item_id, project_id, label))

    def remove_share(self, item_id: str, project_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM shares WHERE item_id=? AND project=?", (item_id, project_id))

    # -- scans ------------------------------------------------------------------------------

    def get_scan(self, session_id: str, scan_id: str) -> Scan | None:
        row = self._one(
            "SELECT * FROM scans WHERE session_id=? AND scan_id=?", (session_id, scan_id)
        )
        return Scan(**row) if row else None

    def get_scan_by_pk(self, pk: int) -> Scan | None:
        row = self._one("SELECT * FROM scans WHERE pk=?", (pk,))
        return Scan(**row) if row else None

    def list_scans(self, session_id: str) -> list[Scan]:
        rows = self._all("SELECT * FROM scans WHERE session_id=? ORDER BY pk", (session_id,))
        return [Scan(**r) for r in rows]

    def create_scan(self, session_id: str, scan_id: str, xsi_type: str, xml: str, user: str) -> Scan:
        with self.transaction() as db:
            ts = now_timestamp()
            db.execute(
                "INSERT INTO scans(session_id, scan_id, xsi_type, xml, insert_date, insert_user, "
                "last_modified) VALUES (?,?,?,?,?,?,?)",
                (session_id, scan_id, xsi_type, xml, ts, user, ts),
            )
            return self.get_scan(session_id, scan_id)

    def update_scan(self, scan: Scan) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE scans SET xml=?, last_modified=? WHERE pk=?",
                (scan.xml, now_timestamp(), scan.pk),
            )

    def delete_scan(self, scan: Scan) -> list[int]:
        with self.transaction() as db:
            removed = self._delete_resources(db, "scan", str(scan.pk))
            db.execute("DELETE FROM scans WHERE pk=?", (scan.pk,))
            return removed

    # -- resources and files ----------------------------------------------------------------

    def resource_dir(self, resource_id: int) -> Path:
        return self.archive_dir / f"{resource_id:08d}"

    def list_resources(self, owner_type: str, owner_id: str, io: str | None = None) -> list[Resource]:
        sql, args = "SELECT * FROM resources WHERE owner_type=? AND owner_id=?", [owner_type, owner_id]
        if io is not None:
            sql += " AND io=?"
            args.append(io)
        return [Resource(**r) for r in self._all(sql + " ORDER BY id", args)]

    def find_resource(self, owner_type: str, owner_id: str, label_or_id: str) -> Resource | None:
        """By label, else by numeric id (XNAT matches ``id=N OR label='N'``)."""
        row = self._one(
            "SELECT * FROM resources WHERE owner_type=? AND owner_id=? AND label=?",
            (owner_type, owner_id, label_or_id),
        )
        if row is None and label_or_id.isdigit():
            row = self._one(
                "SELECT * FROM resources WHERE owner_type=? AND owner_id=? AND id=?",
                (owner_type, owner_id, int(label_or_id)),
            )
        return Resource(**row) if row else None

    def get_resource(self, resource_id: int) -> Resource | None:
        row = self._one("SELECT * FROM resources WHERE id=?", (resource_id,))
        return Resource(**row) if row else None

    def create_resource(
        self, owner_type: str, owner_id: str, label: str, *, io: str = "", format: str = "",
        content: str = "", description: str = "", tags: str = "",
        element_name: str = "xnat:resourceCatalog",
    ) -> Resource:
        with self.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM resources WHERE owner_type=? AND owner_id=? AND label=?",
                (owner_type, owner_id, label),
            ).fetchone()
            if exists:
                raise Conflict("Specified resource already exists.")
            cur = db.execute(
                "INSERT INTO resources(owner_type, owner_id, io, label, format, content, "
                "description, tags, element_name, insert_date) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (owner_type, owner_id, io, label, format, content, description, tags,
                 element_name, now_timestamp()),
            )
            return self.get_resource(cur.lastrowid)

    def update_resource(self, res: Resource) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET format=?, content=?, description=?, tags=? WHERE id=?",
                (res.format, res.content, res.description, res.tags, res.id),
            )

    def delete_resource(self, resource_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM files WHERE resource_id=?", (resource_id,))
            db.execute("DELETE FROM resources WHERE id=?", (resource_id,))

    def _delete_resources(self, db, owner_type: str, owner_id: str) -> list[int]:
        ids = [
            r["id"] for r in db.execute(
                "SELECT id FROM resources WHERE owner_type=? AND owner_id=?", (owner_type, owner_id)
            ).fetchall()
        ]
        for rid in ids:
            self.delete_resource(rid)
        return ids

    def list_files(self, resource_id: int) -> list[FileEntry]:
        rows = self._all("SELECT * FROM files WHERE resource_id=? ORDER BY path", (resource_id,))
        return [FileEntry(**r) for r in rows]

    def resource_stats(self, resource_id: int) -> tuple[int, int]:
        row = self._one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS total FROM files WHERE resource_id=?",
            (resource_id,),
        )
        return row["n"], row["total"]

    def get_file(self, resource_id: int, path: str) -> FileEntry | None:
        row = self._one("SELECT * FROM files WHERE resource_id=? AND path=?", (resource_id, path))
        return FileEntry(**row) if row else None

    def put_file(self, entry: FileEntry) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)",
                (entry.resource_id, entry.path, entry.size, entry.md5, entry.format,
                 entry.content, entry.tags, entry.mtime),
            )

    def delete_file(self, resource_id: int, path: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM files WHERE resource_id=? AND path=?", (resource_id, path))

    # -- alias tokens -------------------------------------------------------------------------

    def create_token(self, alias: str, secret: str, login: str, created: float, expires: float) -> int:
        with self.transaction() as db:
            n = db.execute("SELECT COUNT(*) AS n FROM tokens").fetchone()["n"] + 1
            db.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?,?,1)",
                (alias, secret, login, n, created, expires),
            )
            return n

    def get_token(self, alias: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM tokens WHERE alias=?", (alias,))

    def invalidate_token(self, alias: str) -> bool:
        with self.transaction() as db:
            return db.execute("UPDATE tokens SET valid=0 WHERE alias=?", (alias,)).rowcount > 0

    def require(self, value, message: str):
        """Return ``value`` or raise XNAT's 404 with ``message``."""
        if value is None:
            raise NotFound(message)
        return value
