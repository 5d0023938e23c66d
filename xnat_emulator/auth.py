"""Who is calling and what they may do: users, HTTP sessions, alias tokens, project roles.

xnat-rest.md §2: Basic on every request, ``JSESSIONID`` sessions, alias tokens (a UUID alias
and a 64-character secret) usable as Basic credentials; 401 for missing or bad credentials,
403 for writes without permission, 404 for projects the user cannot read.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass

from .config import User
from .errors import Forbidden, NotFound
from .store import Project, Store

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TOKEN_LIFETIME = 48 * 3600  # WIKI "User Alias Token API": 48 h by default
ROLE_GROUPS = {"Owners": "owner", "Members": "member", "Collaborators": "collaborator"}


def group_role(project_id: str, group: str) -> str | None:
    """The role a project user group names: its ID ``{P}_member`` (what grxnat sends), the bare
    role ``member`` or the display name ``Members`` (pyxnat), any case (ProjectUserResource)."""
    name = group.lower()
    if name.startswith(project_id.lower() + "_"):
        name = name[len(project_id) + 1:]
    for display, role in ROLE_GROUPS.items():
        if name in (role, display.lower()):
            return role
    return None


@dataclass(frozen=True)
class Principal:
    login: str
    admin: bool
    token_alias: str | None = None


class Auth:
    def __init__(self, store: Store, users: tuple[User, ...]):
        self.store = store
        self.users = {u.login: u for u in users}
        # HTTP sessions live in memory, like Tomcat's: a restart logs everybody out.
        self._sessions: dict[str, str] = {}
        self._lock = threading.Lock()

    def principal(self, login: str, token_alias: str | None = None) -> Principal | None:
        user = self.users.get(login)
        return Principal(login, user.admin, token_alias) if user else None

    def check_basic(self, login: str, password: str) -> Principal | None:
        """A user's password, or an alias token's ``alias:secret`` (XnatSecureGuard)."""
        if UUID_RE.match(login):
            token = self.store.get_token(login)
            if (token and token["valid"] and token["expires"] > time.time()
                    and secrets.compare_digest(token["secret"], password)):
                return self.principal(token["login"], token_alias=login)
            return None
        user = self.users.get(login)
        if user and secrets.compare_digest(user.password.encode(), password.encode()):
            return Principal(login, user.admin)
        return None

    # -- HTTP sessions ------------------------------------------------------------------------

    def open_session(self, principal: Principal) -> str:
        sid = secrets.token_hex(16).upper()  # Tomcat: 32 upper-case hex digits
        with self._lock:
            self._sessions[sid] = principal
        return sid

    def session_principal(self, sid: str) -> Principal | None:
        with self._lock:
            return self._sessions.get(sid)

    def close_session(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def expire_all_sessions(self) -> int:
        """Fault injection: every session ends; cookie-only clients get 401 next."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def invalidate_token(self, alias: str) -> bool:
        """An invalidated token also ends the sessions it opened."""
        with self._lock:
            for sid in [s for s, p in self._sessions.items() if p.token_alias == alias]:
                del self._sessions[sid]
        return self.store.invalidate_token(alias)

    # -- alias tokens -------------------------------------------------------------------------

    def issue_token(self, login: str) -> dict:
        alias = str(uuid.uuid4())
        secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64))
        created = time.time()
        expires = created + TOKEN_LIFETIME
        token_id = self.store.create_token(alias, secret, login, created, expires)
        ms = int(created * 1000)
        return {"secret": secret, "estimatedExpirationTime": int(expires * 1000), "alias": alias,
                "xdatUserId": login, "singleUse": False, "id": token_id, "disabled": 0,
                "created": ms, "enabled": True, "timestamp": ms}

    def validate_token(self, alias: str, secret: str) -> str | None:
        token = self.store.get_token(alias)
        if (token and token["valid"] and token["expires"] > time.time()
                and secrets.compare_digest(token["secret"], secret)):
            return token["login"]
        return None

    # -- project permissions ------------------------------------------------------------------

    def role(self, who: Principal, project: Project) -> str | None:
        if who.admin:
            return "owner"
        return self.store.project_role(project.id, who.login)

    def can_read(self, who: Principal, project: Project) -> bool:
        return project.accessibility == "public" or self.role(who, project) is not None

    def can_see(self, who: Principal, project: Project) -> bool:
        """Listed in ``/data/projects``: protected projects show, their data does not."""
        return self.can_read(who, project) or project.accessibility == "protected"

    def require_read(self, who: Principal, project: Project) -> None:
        if not self.can_read(who, project):
            raise NotFound(f"Unable to identify project {project.id}")

    def require_visible(self, who: Principal, project: Project) -> None:
        """Writes into a project one can see (a protected one included) but may not edit are
        403; into one that is invisible (private, no role) 404 (TestInvalidUserAccess)."""
        if not self.can_see(who, project):
            raise NotFound(f"Unable to identify project {project.id}")

    def require_edit(self, who: Principal, project: Project, what: str = "data") -> None:
        self.require_visible(who, project)
        if self.role(who, project) not in ("owner", "member"):
            raise Forbidden(
                f"Specified user account has insufficient create privileges for {what} "
                "in this project.")

    def require_delete(self, who: Principal, project: Project, what: str = "data") -> None:
        self.require_visible(who, project)
        if self.role(who, project) != "owner":
            raise Forbidden(
                f"Specified user account has insufficient delete privileges for {what} "
                "in this project.")

    def require_owner(self, who: Principal, project: Project) -> None:
        self.require_visible(who, project)
        if self.role(who, project) != "owner":
            raise Forbidden("User account doesn't have permission to edit this project.")
