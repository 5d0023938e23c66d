"""Fidelity 7: Basic auth, JSESSIONID sessions, /data/auth, /data/services/auth, alias tokens,
401/403/404, project roles and site admins.

xnat-rest.md §2 (authentication, tokens, 401 vs 403 vs 404), §8 (project users), §9 (xnatpy login).
"""

from __future__ import annotations

import re

import pytest
import requests

from xnat_emulator.config import User

SESSION_ID = re.compile(r"^[0-9A-F]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _cookie_only(emulator, sid: str) -> requests.Session:
    s = emulator.http(anonymous=True)
    s.cookies.set("JSESSIONID", sid)
    return s


# -- Basic and sessions ---------------------------------------------------------------------------

def test_basic_on_every_request_sets_jsessionid_cookie(emulator):
    """xnat-rest.md §2: "Basic auth on every request is accepted ... Tomcat sends Set-Cookie:
    JSESSIONID=<32 uppercase hex>; Path=/; HttpOnly"; "Later requests may use only the cookie"."""
    with emulator.http() as http:
        r = http.get("/data/projects", params={"format": "json"})
        assert r.status_code == 200
        cookie = r.headers["Set-Cookie"]
        m = re.match(r"JSESSIONID=([0-9A-F]{32});", cookie)
        assert m, cookie
        assert "Path=/" in cookie and "HttpOnly" in cookie
        with _cookie_only(emulator, m.group(1)) as anon:
            assert anon.get("/data/projects", params={"format": "json"}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_jsession_returns_session_id_text(emulator, method):
    """xnat-rest.md §2 JSESSION: "GET or POST /data/JSESSION -> 200 text/plain body = HTTP session
    id"; pyxnat stores 'JSESSIONID=' + body and uses it."""
    with emulator.http() as http:
        r = http.request(method, "/data/JSESSION")
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        assert SESSION_ID.match(r.text), r.text
        with _cookie_only(emulator, r.text) as anon:
            assert anon.get("/data/auth").text == "User 'admin' is logged in"


def test_delete_jsession_ends_session(emulator):
    """xnat-rest.md §2 JSESSION: "DELETE /data/JSESSION -> session invalidated (body empty; 200)";
    the cookie then gets 401."""
    with emulator.http() as http:
        sid = http.get("/data/JSESSION").text
    with _cookie_only(emulator, sid) as anon:
        assert anon.get("/data/auth").status_code == 200
        r = anon.delete("/data/JSESSION")
        assert (r.status_code, r.text) == (200, "")
        r = anon.get("/data/projects", params={"format": "json"})
        assert r.status_code == 401


def test_data_auth_text(emulator):
    """xnat-rest.md §2 /data/auth: "GET -> 200 text/plain User 'admin' is logged in";
    unauthenticated -> 401 with Basic challenge."""
    with emulator.http() as http:
        r = http.get("/data/auth")
        assert (r.status_code, r.text) == (200, "User 'admin' is logged in")
        assert r.headers["Content-Type"].startswith("text/plain")
    with emulator.http(anonymous=True) as anon:
        r = anon.get("/data/auth")
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_services_auth_form_login_then_cookie_only(emulator, method):
    """xnat-rest.md §2 /data/services/auth: "PUT/POST body username=..&password=.. success -> 200
    text/plain body = session id, session becomes authenticated (cookie set)"; xnatpy "sends only
    the cookie"."""
    with emulator.http(anonymous=True) as anon:
        r = anon.request(method, "/data/services/auth", data={"username": "admin",
                                                               "password": "admin"})
        assert r.status_code == 200 and SESSION_ID.match(r.text)
        assert r.headers["Content-Type"].startswith("text/plain")
        assert anon.cookies.get("JSESSIONID") == r.text
        assert anon.get("/data/auth").text == "User 'admin' is logged in"
        r = anon.put("/data/services/auth", data={"j_username": "admin", "j_password": "admin"})
        assert r.status_code == 200


def test_services_auth_failure_and_get(emulator):
    """xnat-rest.md §2: "failure -> 401 Authentication failed."; "GET -> error"."""
    with emulator.http(anonymous=True) as anon:
        r = anon.put("/data/services/auth", data={"username": "admin", "password": "wrong"})
        assert r.status_code == 401 and "Authentication failed." in r.text
        assert anon.get("/data/services/auth").status_code >= 400


def test_anonymous_data_request_401_with_challenge(emulator):
    """xnat-rest.md §2: "No credentials on a data path (/xapi/**, /data/**, /REST/**) from a
    non-interactive UA -> 401 + WWW-Authenticate: Basic realm="{siteId}""; "Browser UAs get 302 to
    /app/template/Login.vm"."""
    with emulator.http(anonymous=True) as anon:
        for path in ("/data/projects", "/data/archive/projects", "/REST/projects",
                     "/xapi/siteConfig"):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert r.headers["WWW-Authenticate"] == 'Basic realm="XNAT"', path
        r = anon.get("/data/projects", allow_redirects=False,
                     headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
        assert r.status_code == 302
        assert r.headers["Location"].endswith("/app/template/Login.vm")


def test_bad_basic_credentials_401(emulator):
    """xnat-rest.md §2: "Bad Basic credentials -> 401" (and no session)."""
    with emulator.http("admin", "nope") as bad:
        r = bad.get("/data/projects")
        assert r.status_code == 401
        assert "JSESSIONID" not in r.headers.get("Set-Cookie", "")
    with emulator.http("nobody", "x") as bad:
        assert bad.get("/data/JSESSION").status_code == 401


# -- alias tokens -----------------------------------------------------------------------------------

def test_alias_token_issue_use_validate_invalidate(emulator):
    """xnat-rest.md §2 Alias tokens: issue -> JSON of the token entity (alias = UUID, secret =
    64 alphanumerics, epoch-ms dates); usable as Basic user/password; validate ->
    {"valid":"<username>"}; invalidate -> {"result": "OK"}; invalidated token -> 401."""
    with emulator.http() as http:
        r = http.get("/data/services/tokens/issue")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
        token = r.json()
    assert set(token) >= {"alias", "secret", "xdatUserId", "estimatedExpirationTime", "created",
                          "enabled", "singleUse", "id", "disabled", "timestamp"}
    assert UUID.match(token["alias"])
    assert re.fullmatch(r"[A-Za-z0-9]{64}", token["secret"])
    assert token["xdatUserId"] == "admin" and isinstance(token["created"], int)
    assert token["estimatedExpirationTime"] - token["created"] == 48 * 3600 * 1000
    with emulator.http(token["alias"], token["secret"]) as via_token:
        assert via_token.get("/data/auth").text == "User 'admin' is logged in"
        assert via_token.get("/data/projects", params={"format": "json"}).status_code == 200
        r = via_token.get(f"/data/services/tokens/validate/{token['alias']}/{token['secret']}")
        assert r.json() == {"valid": "admin"}
    with emulator.http() as http:
        r = http.get(f"/data/services/tokens/invalidate/{token['alias']}/{token['secret']}")
        assert r.status_code == 200 and r.json() == {"result": "OK"}
    with emulator.http(token["alias"], token["secret"]) as via_token:
        assert via_token.get("/data/projects").status_code == 401
    with emulator.http(token["alias"], "X" * 64) as bogus:
        assert bogus.get("/data/projects").status_code == 401


def test_token_bad_op_400(emulator):
    """xnat-rest.md §2 Alias tokens: "unknown op -> 400"."""
    with emulator.http() as http:
        assert http.get("/data/services/tokens/frobnicate").status_code == 400


# -- roles ------------------------------------------------------------------------------------------

USERS = (User("admin", "admin", admin=True), User("owner", "pw-owner"), User("member", "pw-member"),
         User("collab", "pw-collab"), User("outsider", "pw-outsider"), User("admin2", "pw", True))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from xnat_emulator.testing import InProcessEmulator
    emu = InProcessEmulator(tmp_path_factory.mktemp("auth"), users=USERS)
    with emu.http() as admin:
        for pid, access in (("PRIV", "private"), ("PUB", "public")):
            assert admin.put(f"/data/projects/{pid}", params={"accessibility": access}
                             ).status_code == 200
            assert admin.put(f"/data/projects/{pid}/subjects/S1",
                             params={"xsiType": "xnat:subjectData"}).status_code == 201
        for group, login in (("Owners", "owner"), ("Members", "member"),
                             ("Collaborators", "collab")):
            r = admin.put(f"/data/projects/PRIV/users/{group}/{login}")
            # ProjectMemberResource.handlePut ends with returnDefaultRepresentation(): the
            # project's user table, not an empty body
            assert r.status_code == 200 and login in r.text
    yield emu
    emu.stop()


def _as(site, login):
    password = next(u.password for u in USERS if u.login == login)
    return site.http(login, password)


def test_project_users_listing(site):
    """xnat-rest.md §8: `users()` -> `GET /data/projects/{P}/users?format=csv` (login, displayname
    in Owners|Members|Collaborators); `add_user` -> `PUT /data/projects/{P}/users/{Role}s/{login}`."""
    with _as(site, "owner") as http:
        rows = http.get("/data/projects/PRIV/users", params={"format": "json"}).json()[
            "ResultSet"]["Result"]
    groups = {r["login"]: r["displayname"] for r in rows}  # the group's display name
    assert groups["owner"] == "Owners" and groups["member"] == "Members"
    assert groups["collab"] == "Collaborators"


def test_outsider_cannot_see_private_project(site):
    """xnat-rest.md §2: "reads of projects the user cannot see -> 404"."""
    with _as(site, "outsider") as http:
        assert http.get("/data/projects/PRIV", params={"format": "xml"}).status_code == 404
        assert http.get("/data/projects/PRIV/subjects", params={"format": "json"}).status_code \
            == 404
        assert http.get("/data/projects/PRIV/subjects/S1",
                        params={"format": "xml"}).status_code == 404
        ids = [p["ID"] for p in http.get("/data/projects", params={"format": "json"}).json()[
            "ResultSet"]["Result"]]
        assert "PRIV" not in ids and "PUB" in ids


def test_public_project_readable_not_writable(site):
    """xnat-rest.md §2: "write without permission -> 403"; public projects are readable."""
    with _as(site, "outsider") as http:
        assert http.get("/data/projects/PUB/subjects/S1", params={"format": "xml"}).status_code \
            == 200
        r = http.put("/data/projects/PUB/subjects/S2", params={"xsiType": "xnat:subjectData"})
        assert r.status_code == 403


def test_collaborator_reads_but_cannot_write(site):
    """xnat-rest.md §2: 403 "with messages like Specified user account has insufficient create
    privileges for subjects in this project." """
    with _as(site, "collab") as http:
        assert http.get("/data/projects/PRIV/subjects/S1", params={"format": "xml"}).status_code \
            == 200
        r = http.put("/data/projects/PRIV/subjects/C1", params={"xsiType": "xnat:subjectData"})
        assert r.status_code == 403
        assert ("Specified user account has insufficient create privileges for subjects in this "
                "project.") in r.text
        r = http.put("/data/projects/PRIV/resources/R/files/a.txt", data=b"a",
                     headers={"Content-Type": "text/plain"})
        assert r.status_code == 403


def test_member_creates_but_cannot_delete_or_manage_users(site):
    """xnat-rest.md §2 403 for writes without permission: members create and edit; deleting and
    managing users needs an owner."""
    with _as(site, "member") as http:
        r = http.put("/data/projects/PRIV/subjects/M1", params={"xsiType": "xnat:subjectData"})
        assert r.status_code == 201
        assert http.put("/data/projects/PRIV/subjects/M1/resources/R/files/a.txt", data=b"a",
                        headers={"Content-Type": "text/plain"}).status_code == 200
        assert http.delete("/data/projects/PRIV/subjects/M1").status_code == 403
        assert http.put("/data/projects/PRIV/users/Members/outsider").status_code == 403


def test_owner_deletes_and_manages_users(site):
    """xnat-rest.md §8: owners `PUT /data/projects/{P}/users/{Role}s/{login}`; owners delete."""
    with _as(site, "owner") as http:
        assert http.put("/data/projects/PRIV/subjects/O1",
                        params={"xsiType": "xnat:subjectData"}).status_code == 201
        assert http.delete("/data/projects/PRIV/subjects/O1").status_code == 200
        assert http.put("/data/projects/PRIV/users/Collaborators/outsider").status_code == 200
    with _as(site, "outsider") as http:
        assert http.get("/data/projects/PRIV", params={"format": "xml"}).status_code == 200
    with _as(site, "owner") as http:
        assert http.delete("/data/projects/PRIV/users/Collaborators/outsider").status_code == 200
    with _as(site, "outsider") as http:
        assert http.get("/data/projects/PRIV", params={"format": "xml"}).status_code == 404


def test_site_admin_sees_and_writes_everything(site):
    """xnat-rest.md §2: site admins (no project role) read and write every project."""
    with _as(site, "admin2") as http:
        assert http.get("/data/projects/PRIV/subjects/S1", params={"format": "xml"}).status_code \
            == 200
        assert http.put("/data/projects/PRIV/subjects/A2",
                        params={"xsiType": "xnat:subjectData"}).status_code == 201
        assert http.delete("/data/projects/PRIV/subjects/A2").status_code == 200


def test_proxy_token_admin_only(site):
    """xnat-rest.md §2: "/issue/user/{login} (admin only, else 403 Only admins can create proxy
    tokens.)"; the proxy token acts as that user."""
    with _as(site, "member") as http:
        r = http.get("/data/services/tokens/issue/user/owner")
        assert r.status_code == 403 and "Only admins can create proxy tokens." in r.text
    with _as(site, "admin") as http:
        token = http.get("/data/services/tokens/issue/user/collab").json()
    assert token["xdatUserId"] == "collab"
    with site.http(token["alias"], token["secret"]) as http:
        assert http.get("/data/auth").text == "User 'collab' is logged in"
        assert http.put("/data/projects/PRIV/subjects/T1",
                        params={"xsiType": "xnat:subjectData"}).status_code == 403
