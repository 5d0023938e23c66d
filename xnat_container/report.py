"""The report: one JSON document and a short Markdown summary of what a job did and why.

Never holds a secret: it is built only from URLs without credentials, labels, paths, counts
and error messages that the client already scrubs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import __version__


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Report:
    job: str
    source: dict
    target: dict
    options: dict
    started: str = field(default_factory=now_iso)
    finished: str = ""
    seconds: float = 0.0
    dry_run: bool = False
    plan: dict = field(default_factory=dict)
    done: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)    # input refused: {"path", "reason"}
    requests: dict = field(default_factory=dict)
    status: str = "running"

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "planned")

    def as_dict(self) -> dict:
        return {"job": self.job, "version": __version__, "status": self.status,
                "started": self.started, "finished": self.finished, "seconds": self.seconds,
                "dry_run": self.dry_run, "source": self.source, "target": self.target,
                "options": self.options, "plan": self.plan, "done": self.done,
                "skipped": self.skipped, "verification": self.verification,
                "failures": self.failures, "rejected": self.rejected, "requests": self.requests}

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "report.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        (folder / "report.md").write_text(self.summary() + "\n")
        return path

    def summary(self) -> str:
        lines = [f"# xnat-container {self.job}: {self.status}", "",
                 f"- source: {self.source.get('url', '')} project {self.source.get('project', '')}",
                 f"- target: {self.target.get('url', '')} project {self.target.get('project', '')}",
                 f"- started {self.started}, took {self.seconds:.1f} s"]
        for title, values in (("plan", self.plan), ("done", self.done),
                              ("skipped", self.skipped), ("verification", self.verification)):
            if values:
                lines.append(f"- {title}: " + ", ".join(
                    f"{k} {_short(v)}" for k, v in values.items()))
        if self.failures:
            lines += ["", f"## {len(self.failures)} failure(s)", ""]
            lines += [f"- {f['what']} {f['where']}: {f['reason']}" for f in self.failures[:200]]
            if len(self.failures) > 200:
                lines.append(f"- ... and {len(self.failures) - 200} more in report.json")
        if self.rejected:
            lines += ["", f"## {len(self.rejected)} rejected", ""]
            lines += [f"- {r['path']}: {r['reason']}" for r in self.rejected[:200]]
        return "\n".join(lines)


def _short(value) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)
