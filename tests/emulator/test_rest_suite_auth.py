"""Port of NrgXnat/xnat-rest-tests (commit 374f756) to the emulator: authentication,
alias tokens, permissions, sharing and project validation.

Multi-user scenarios run on an emulator of their own with site admin ``admin`` and
ordinary users ``bob`` (the Java suite's ``mainUser``) and ``carol`` (a second generic
user). Project membership is granted the way grxnat's ProjectSubinterface.addUserToProject
does it: ``PUT /data/projects/{P}/users/{P}_{owner|member|collaborator}/{login}``.
"""

from __future__ import annotations

import random
import re
import string

import pytest
import requests

from xnat_emulator.config import User
from rest_suite_support import expect, new_project, new_session, new_subject, rows

USERS = (User("admin", "admin", admin=True), User("bob", "bobpw"), User("carol", "carolpw"))
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
XML_HEADERS = {"Content-Type": "text/xml"}


# --------------------------------------------------------------------------- helpers

def random_id(length: int = 14) -> str:
    """RandomHelper.randomID of the Java suite: a letter, then mixed-case alphanumerics."""
    return random.choice(string.ascii_letters) + "".join(
        random.choice(string.ascii_letters + string.digits) for _ in range(length - 1))


@pytest.fixture
def site(make_emulator):
    """An emulator with admin, bob and carol, and a Basic-auth session for each."""
    emu = make_emulator(users=USERS)
    sessions = {u.login: emu.http(user=u.login, password=u.password) for u in USERS}
    yield emu, sessions
    for s in sessions.values():
        s.close()


def add_user(admin_http, project: str, group: str, login: str):
    """grxnat:ProjectSubinterface.addUserToProject (the Java does not check the status)."""
    expect(admin_http.put(f"/data/projects/{project}/users/{project}_{group}/{login}"), 200)


def token_session(url: str, alias: str, secret: str) -> requests.Session:
    """grxnat:AliasTokenSessionFilter: preemptive Basic ``alias:secret`` on every request."""
    s = requests.Session()
    s.auth = (alias, secret)
    return s


SUBJECT_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<xnat:Subject ID="" project="" group="control" label="{label}" src="12" '
    'xmlns:xnat="http://nrg.wustl.edu/xnat" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    '<xnat:demographics xsi:type="xnat:demographicData"><xnat:dob>1990-01-01</xnat:dob>'
    "<xnat:gender>male</xnat:gender><xnat:handedness>right</xnat:handedness>"
    "<xnat:education>12</xnat:education><xnat:race>12</xnat:race><xnat:ethnicity>12</xnat:ethnicity>"
    "</xnat:demographics></xnat:Subject>")


# --------------------------------------------------------------------------- basic access

def test_valid_credentials_list_projects_as_xml(http):
    """``GET /data/projects?format=xml`` with valid credentials -> 200, non-empty body.

    Ports NrgXnat/xnat-rest-tests:.../TestUserAccess.testValidAccess; reference §3.1 (XML table).
    """
    r = expect(http.get("/data/projects", params={"format": "xml"}), 200)
    assert r.text.strip()
    assert "<ResultSet" in r.text


def test_invalid_credentials_are_401(emulator):
    """``GET /data/projects?format=xml`` with a wrong password -> 401.

    Ports NrgXnat/xnat-rest-tests:.../TestUserAccess.testInvalidAccess; reference §2.
    """
    with emulator.http(user=emulator.user, password=emulator.password + "-wrong") as bad:
        expect(bad.get("/data/projects", params={"format": "xml"}), 401)


def test_anonymous_site_config_is_401_on_closed_site(emulator):
    """Anonymous ``GET /xapi/siteConfig`` on a site that requires login -> 401.

    Ports NrgXnat/xnat-rest-tests:.../TestXapiSiteConfig.testGetSiteConfigClosedXnat (last
    assertion only; the rest edits site settings); reference §2 (``/xapi/**`` is a data path).
    """
    with emulator.http(anonymous=True) as anon:
        expect(anon.get("/xapi/siteConfig"), 401)


def test_jsession_from_auth_and_invalidation(site):
    """``GET /data/auth`` with Basic -> 200 and a ``JSESSIONID`` cookie; each call makes a
    new session id; the cookie alone then authenticates; ``DELETE /data/JSESSION/{id}`` with
    that cookie -> 200, after which the cookie alone gets 401 and no project data.

    Ports NrgXnat/xnat-rest-tests:.../TestUserAccess.testUserSessionInvalidation (session
    creation = grxnat:XnatSessionFilter.extractSessionId via ``/data/auth``; logout =
    grxnat:XnatInterface.logout ``DELETE /data/JSESSION/{id}`` asserting 200). The Java test
    invalidates via admin ``DELETE /xapi/users/active/{user}`` (not ported). For the
    invalidated cookie Java accepts 401, or 200 with the login page for browser clients;
    requests is not a browser, so 401. Reference §2 (JSESSION, prefix routing §1).
    """
    emu, http = site
    project = new_project(http["bob"], accessibility="private")

    def login() -> str:
        with emu.http(user="bob", password="bobpw") as s:
            r = expect(s.get("/data/auth"), 200)
            assert r.cookies.get("JSESSIONID")
            return r.cookies["JSESSIONID"]

    first, second, third = login(), login(), login()
    assert len({first, second, third}) == 3

    for sid in (first, second):
        with emu.http(anonymous=True) as cookie_only:
            cookie_only.cookies.set("JSESSIONID", sid)
            expect(cookie_only.get(f"/data/projects/{project}", params={"format": "xml"}), 200)
            expect(cookie_only.delete(f"/data/JSESSION/{sid}"), 200)
        with emu.http(anonymous=True) as cookie_only:
            cookie_only.cookies.set("JSESSIONID", sid)
            r = expect(cookie_only.get(f"/data/projects/{project}", params={"format": "xml"}), 401)
            assert project not in r.text

    with emu.http(anonymous=True) as cookie_only:  # untouched session still valid
        cookie_only.cookies.set("JSESSIONID", third)
        expect(cookie_only.get(f"/data/projects/{project}", params={"format": "xml"}), 200)


def test_admin_lists_site_users(site):
    """``GET /data/users?format=json`` as site admin -> 200 table with the user rows
    (columns ``xdat_user_id, login, firstname, lastname, email``).

    Ports NrgXnat/xnat-rest-tests:.../TestUsersApi.testRestletUsersCall (admin half; the
    non-admin half toggles the ``restrictUserListAccessToAdmins`` site setting). Columns
    from XNAT UserListResource.
    """
    _, http = site
    users = rows(http["admin"].get("/data/users", params={"format": "json"}))
    logins = {u["login"] for u in users}
    assert {"admin", "bob", "carol"} <= logins
    assert {"xdat_user_id", "login", "firstname", "lastname", "email"} <= set(users[0])


# --------------------------------------------------------------------------- alias tokens

def _private_projects(http):
    bob_project = new_project(http["bob"], accessibility="private")
    carol_project = new_project(http["carol"], accessibility="private")
    return bob_project, carol_project


def _issue(session, path: str = "/data/services/tokens/issue") -> tuple[str, str]:
    r = expect(session.get(path), 200)
    token = r.json()
    assert UUID_RE.match(token["alias"]), token
    assert len(token["secret"]) == 64 and token["secret"].isalnum()
    return token["alias"], token["secret"]


def _check_token(emu, alias, secret, bob_project, carol_project, expected):
    with token_session(emu.url, alias, secret) as s:
        got = tuple(s.get(f"{emu.url}/data/projects/{p}").status_code for p in (bob_project, carol_project))
    assert got == expected


def test_alias_token_for_self(site):
    """A user's own token (``GET /data/services/tokens/issue``) used as Basic
    ``alias:secret`` reads that user's private project (200) but not another user's
    private project (404).

    Ports NrgXnat/xnat-rest-tests:.../TestAliasTokenService.testSelfAliasTokenClosedXnat
    (checkAliasTokenForMainUser: 200/404); reference §2 (alias tokens).
    """
    emu, http = site
    bob_project, carol_project = _private_projects(http)
    alias, secret = _issue(http["bob"])
    _check_token(emu, alias, secret, bob_project, carol_project, (200, 404))


def test_proxy_alias_tokens(site):
    """Admin's token for itself reads both private projects (200/200); anonymous
    ``GET /data/services/tokens/issue/user/bob`` -> 401; carol asking for bob's token -> 403
    with a message mentioning admin; admin's proxy token for bob behaves as bob (200/404).

    Ports NrgXnat/xnat-rest-tests:.../TestAliasTokenService.testProxyAliasTokenClosedXnat
    (403 body check from grxnat:AliasTokenSubinterface.generateAliasToken); reference §2
    ("Only admins can create proxy tokens." — see the disagreement note below).
    NOTE: reference §2 quotes the 403 message "Only admins can create proxy tokens."; XNAT
    1.8 AliasTokenRestlet answers "Non-admin users can only request operations on alias
    tokens for their own account" (constructor) — both contain "admin", which is all the
    Java test checks.
    """
    emu, http = site
    bob_project, carol_project = _private_projects(http)

    alias, secret = _issue(http["admin"], "/data/services/tokens/issue/user/admin")
    _check_token(emu, alias, secret, bob_project, carol_project, (200, 200))

    with emu.http(anonymous=True) as anon:
        expect(anon.get("/data/services/tokens/issue/user/bob"), 401)
    r = expect(http["carol"].get("/data/services/tokens/issue/user/bob"), 403)
    assert "admin" in r.text

    alias, secret = _issue(http["admin"], "/data/services/tokens/issue/user/bob")
    _check_token(emu, alias, secret, bob_project, carol_project, (200, 404))


def test_alias_token_validation_and_invalidation(site):
    """``GET /data/services/tokens/validate/{alias}/{secret}`` -> 200 ``{"valid": "bob"}``
    whether called with the token itself or with bob's password; a bogus token
    (``1-2-3-4-5-6-7-8``) -> 404 and as Basic credentials -> 401; after
    ``GET /data/services/tokens/invalidate/{alias}`` (-> 200) the token gets 401 everywhere.

    Ports NrgXnat/xnat-rest-tests:.../TestAliasTokenService.testAliasTokenValidationClosedXnat
    (validate/invalidate URLs and the 404-means-invalid rule from
    grxnat:AliasTokenSubinterface; 401 for invalidated tokens on 1.7.4+); reference §2.
    """
    emu, http = site
    bob_project, carol_project = _private_projects(http)
    alias, secret = _issue(http["bob"])
    bogus_alias, bogus_secret = "1-2-3-4-5-6-7-8", "hidden secret number"

    with token_session(emu.url, alias, secret) as by_token:
        for s, base in ((by_token, emu.url), (http["bob"], "")):
            r = expect(s.get(f"{base}/data/services/tokens/validate/{alias}/{secret}"), 200)
            assert r.json() == {"valid": "bob"}
            expect(s.get(f"{base}/data/services/tokens/validate/{bogus_alias}/{bogus_secret}"), 404)
        _check_token(emu, bogus_alias, bogus_secret, bob_project, carol_project, (401, 401))

        expect(by_token.get(f"{emu.url}/data/services/tokens/invalidate/{alias}"), 200)
    _check_token(emu, alias, secret, bob_project, carol_project, (401, 401))


# --------------------------------------------------------------------------- protected project

def test_protected_project_rejects_foreign_writes(site):
    """Protected project owned by admin: with bad credentials every call -> 401; the
    non-member bob can read ``/accessibility`` (200, ``protected``) but gets 403 for
    ``PUT accessibility/public``, project DELETE, project ``alias`` PUT, subject XML POST,
    subject XML PUT and subject query PUT; accessibility stays ``protected``.

    Ports NrgXnat/xnat-rest-tests:.../TestInvalidUserAccess.testProtectedXMLCRUD (accessibility
    text read as grxnat:ProjectSubinterface.readAccessibility, trimmed); reference §2 (401/403).
    """
    emu, http = site
    admin, bob = http["admin"], http["bob"]
    project = new_project(admin)
    expect(admin.post(f"/data/projects/{project}/subjects", params={"format": "xml"},
                      data=SUBJECT_XML.format(label="1"), headers=XML_HEADERS), 200)
    expect(admin.put(f"/data/projects/{project}/accessibility/protected"), 200)
    assert expect(admin.get(f"/data/projects/{project}/accessibility"), 200).text.strip() == "protected"

    with emu.http(user="bob", password="not-bobs-password") as bad:
        expect(bad.get(f"/data/projects/{project}/accessibility", params={"format": "xml"}), 401)
    assert expect(bob.get(f"/data/projects/{project}/accessibility"), 200).text.strip() == "protected"

    alias = random_id()
    subject_xml = SUBJECT_XML.format(label="2")
    calls = [
        ("put", f"/data/projects/{project}/accessibility/public", {"format": "xml"}, None),
        ("delete", f"/data/projects/{project}", {"format": "xml", "removeFiles": "true"}, None),
        ("put", f"/data/projects/{project}", {"format": "xml", "alias": alias}, None),
        ("post", f"/data/projects/{project}/subjects", {"format": "xml"}, subject_xml),
        ("put", f"/data/projects/{project}/subjects/2", {"format": "xml"}, subject_xml),
        ("put", f"/data/projects/{project}/subjects/1",
         {"format": "xml", "req_format": "qs", "gender": "female"}, None),
    ]
    with emu.http(user="bob", password="not-bobs-password") as bad:
        for method, url, params, body in calls:
            headers = XML_HEADERS if body else None
            expect(getattr(bad, method)(url, params=params, data=body, headers=headers), 401)
            expect(getattr(bob, method)(url, params=params, data=body, headers=headers), 403)

    assert expect(admin.get(f"/data/projects/{project}/accessibility"), 200).text.strip() == "protected"
    assert [s["label"] for s in rows(admin.get(f"/data/projects/{project}/subjects",
                                               params={"format": "json"}))] == ["1"]


# --------------------------------------------------------------------------- sharing

def _sharing_projects(http):
    """TestSharing.setupSharingProjects: bob's and admin's protected projects."""
    user_project = new_project(http["bob"], accessibility="protected")
    admin_project = new_project(http["admin"], accessibility="protected")
    return user_project, admin_project


def _admin_subject_and_session(admin, admin_project):
    new_subject(admin, admin_project, "1", group="control", src="12", pi_firstname="Tim",
                pi_lastname="Olsen", dob="2001-01-01", gender="male", handedness="left")
    return new_session(admin, admin_project, "1", "MR1", date="2000-01-01")


def _sharing_scene(http):
    """Both projects, admin's subject 1 and session MR1, and the URLs the sharing tests read:
    in admin's project, and shared into bob's as TOLSEN1 / TOLSEN_E1."""
    user_project, admin_project = _sharing_projects(http)
    session_id = _admin_subject_and_session(http["admin"], admin_project)
    subject_url = f"/data/projects/{admin_project}/subjects/1"
    shared_subject = f"/data/projects/{user_project}/subjects/TOLSEN1"
    return (user_project, admin_project, session_id, subject_url, f"{subject_url}/experiments/MR1",
            shared_subject, f"{shared_subject}/experiments/TOLSEN_E1")


def test_sharing_unshared_data_is_404_for_non_members(site):
    """Non-member bob: GET/DELETE of a subject and a session in admin's protected project
    -> 404 (reads of data one cannot see are 404, not 403).

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testUnShared (opening block); reference §2.
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    _, admin_project = _sharing_projects(http)
    _admin_subject_and_session(admin, admin_project)
    subject_url = f"/data/projects/{admin_project}/subjects/1"
    session_url = f"{subject_url}/experiments/MR1"

    expect(bob.get(session_url, params={"format": "xml"}), 404)
    expect(bob.get(subject_url), 404)
    expect(bob.delete(session_url), 404)
    expect(bob.delete(subject_url), 404)
    expect(admin.get(subject_url, params={"format": "xml"}), 200)


def test_sharing_subject_and_session_then_unshare(site):
    """Admin shares subject ``1`` into bob's project as ``TOLSEN1`` (-> 200) and session MR1
    as ``TOLSEN_E1`` (``PUT /data/experiments/{ID}/projects/{P}?label=`` -> 200/201): bob can
    read them under the shared labels but still not through admin's project (404), and
    cannot delete there (403 or 404); bob's ``DELETE`` of the shared subject only unshares
    it (-> 200): admin still reads both, bob gets 404 again.

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testUnShared (sharing block; share calls
    = grxnat:SubjectSubinterface.shareSubject / SubjectAssessorSubinterface.shareSubjectAssessor);
    reference §4 (share PUT, DELETE from non-owning project = unshare), §7.
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    (user_project, _, session_id, subject_url, session_url, shared_subject,
     shared_session) = _sharing_scene(http)

    expect(admin.put(f"{subject_url}/projects/{user_project}", params={"label": "TOLSEN1"}), 200)
    expect(admin.get(subject_url), 200)
    expect(bob.get(shared_subject), 200)
    expect(bob.get(session_url), 404)

    expect(admin.put(f"/data/experiments/{session_id}/projects/{user_project}",
                     params={"label": "TOLSEN_E1"}), 200, 201)
    expect(admin.get(session_url), 200)
    expect(bob.get(shared_session), 200)

    expect(bob.delete(subject_url), 403, 404)
    expect(bob.delete(session_url), 403, 404)

    expect(bob.delete(shared_subject), 200)  # unshare
    expect(admin.get(subject_url), 200)
    expect(admin.get(session_url), 200)
    expect(bob.get(subject_url), 404)
    expect(bob.delete(session_url), 404)


def test_sharing_by_member_and_member_delete_limits(site):
    """Bob made a member of admin's project: he can read its subject/session (200), share
    them into his own project (200) and read them there, create and delete a manual QC on
    the shared session (201/200), unshare the subject (200), re-share the session without
    a label (200), but DELETE of the source subject -> 403 (members cannot delete); the
    admin can delete it (200).

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testUnShared (member block).
    The re-share returning 200 implies the earlier subject unshare also dropped the
    session's share into bob's project (else XNAT answers 409 "Already assigned to
    project", SubjAssessmentResource) — not stated in the reference.
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    (user_project, admin_project, session_id, subject_url, session_url, shared_subject,
     shared_session) = _sharing_scene(http)

    add_user(admin, admin_project, "member", "bob")
    expect(bob.get(subject_url), 200)
    expect(bob.get(session_url), 200)

    expect(bob.put(f"{subject_url}/projects/{user_project}", params={"label": "TOLSEN1"}), 200)
    expect(bob.put(f"/data/experiments/{session_id}/projects/{user_project}",
                   params={"label": "TOLSEN_E1"}), 200, 201)
    for url in (subject_url, session_url, shared_subject, shared_session):
        expect(bob.get(url), 200)

    qc_url = f"{shared_session}/assessors/QC1"
    expect(bob.put(qc_url, params={"format": "xml", "req_format": "qs",
                                   "xsiType": "xnat:qcManualAssessorData",
                                   "xnat:qcManualAssessorData/pass": "0"}), 201)
    expect(bob.delete(qc_url), 200)

    expect(bob.delete(shared_subject), 200)  # unshare
    expect(bob.get(subject_url), 200)
    expect(bob.get(session_url), 200)
    expect(bob.put(f"{session_url}/projects/{user_project}"), 200)

    expect(bob.delete(subject_url), 403)
    expect(admin.delete(subject_url), 200)


def test_sharing_session_created_under_shared_subject_stays_in_its_project(site):
    """Admin creates subject ``2`` shared into bob's project as ``TOLSEN_2``; bob creates
    session MR2 under ``TOLSEN_2`` in his project (201); the session is not reachable
    through the subject's source project (admin GET -> 404).

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testUnShared (subject2 block; at that
    point bob is a member of admin's project, as here).
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    user_project, admin_project = _sharing_projects(http)
    add_user(admin, admin_project, "member", "bob")
    new_subject(admin, admin_project, "2")
    expect(admin.put(f"/data/projects/{admin_project}/subjects/2/projects/{user_project}",
                     params={"label": "TOLSEN_2"}), 200)

    expect(bob.get(f"/data/projects/{user_project}/subjects/TOLSEN_2"), 200)
    new_session(bob, user_project, "TOLSEN_2", "MR2", date="2000-01-01")
    expect(admin.get(f"/data/projects/{admin_project}/subjects/2/experiments/MR2"), 404)


def test_sharing_member_cannot_delete_and_loses_access_when_removed(site):
    """Member bob creates subject ``5``, session ``MR5_5`` and scan ``SCAN5`` in admin's
    project and a reconstruction with ``xsiType=xnat:ReconstructedImage`` (the XML
    element name, not ``xnat:reconstructedImageData``) -> 200, but DELETE of subject,
    session, scan and reconstruction -> 403 while GET of the recon -> 200. After admin's
    ``DELETE /data/projects/{P}/users/member/bob`` (-> 200) bob gets 404 for reads and
    deletes; admin still reads (200).

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testUnShared (subject5 block);
    reference §2 (403 writes / 404 unreadable), §4.
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    _, admin_project = _sharing_projects(http)
    add_user(admin, admin_project, "member", "bob")

    new_subject(bob, admin_project, "5")
    new_session(bob, admin_project, "5", "MR5_5", date="2000-01-01")
    subject_url = f"/data/projects/{admin_project}/subjects/5"
    session_url = f"{subject_url}/experiments/MR5_5"
    expect(bob.put(f"{session_url}/scans/SCAN5", params={"xsiType": "xnat:mrScanData"}), 200)
    recon_url = f"{session_url}/reconstructions/RECON5"
    expect(bob.put(recon_url, params={"format": "xml", "req_format": "qs",
                                      "xsiType": "xnat:ReconstructedImage"}), 200)

    expect(bob.delete(subject_url), 403)
    expect(bob.delete(session_url), 403)
    expect(bob.delete(f"{session_url}/scans/SCAN5"), 403)
    expect(bob.get(recon_url), 200)
    expect(bob.delete(recon_url), 403)

    expect(admin.delete(f"/data/projects/{admin_project}/users/member/bob"), 200)
    expect(bob.get(session_url, params={"format": "xml"}), 404)
    expect(admin.get(session_url, params={"format": "xml"}), 200)
    expect(bob.get(subject_url), 404)
    expect(admin.get(subject_url), 200)
    expect(bob.delete(session_url), 404)
    expect(bob.delete(subject_url), 404)


def test_sharing_assessor_created_in_aggregator_project(site):
    """Cross-collaborating projects: bob's subject ``6`` is shared into admin's project as
    ``SHARE_S6``; admin creates MR6_6 there (addressing the subject by its original label
    ``6``); bob, a collaborator of admin's project, shares MR6_6 into his project as
    ``SHARE_E6`` (200/201) and creates a manual QC on it there (201); admin shares that QC
    back into his project as ``ADMIN_QC1`` (200); deleting that share (200), the QC (200),
    the session share (200), the session (200) and the subject (200) all succeed.

    Ports NrgXnat/xnat-rest-tests:.../TestSharing.testImageAssessorCreation.
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    user_project, admin_project = _sharing_projects(http)
    add_user(admin, admin_project, "collaborator", "bob")
    add_user(bob, user_project, "collaborator", "admin")

    new_subject(bob, user_project, "6")
    expect(admin.put(f"/data/projects/{user_project}/subjects/6/projects/{admin_project}",
                     params={"label": "SHARE_S6"}), 200)
    session_id = new_session(admin, admin_project, "6", "MR6_6", date="2000-01-01")
    expect(bob.put(f"/data/experiments/{session_id}/projects/{user_project}",
                   params={"label": "SHARE_E6"}), 200, 201)

    qc_url = f"/data/projects/{user_project}/subjects/6/experiments/SHARE_E6/assessors/QC1"
    expect(bob.put(qc_url, params={"req_format": "qs", "xsiType": "xnat:qcManualAssessorData",
                                   "xnat:qcManualAssessorData/pass": "0"}), 201)
    share_url = f"{qc_url}/projects/{admin_project}"
    expect(admin.put(share_url, params={"label": "ADMIN_QC1"}), 200)

    expect(admin.delete(share_url), 200)
    expect(bob.delete(qc_url), 200)
    expect(bob.delete(f"/data/projects/{admin_project}/subjects/6/experiments/MR6_6/projects/{user_project}"), 200)
    expect(admin.delete(f"/data/projects/{admin_project}/subjects/6/experiments/MR6_6",
                        params={"removeFiles": "true"}), 200)
    expect(bob.delete(f"/data/projects/{user_project}/subjects/6"), 200)


# --------------------------------------------------------------------------- renames with permissions

def test_experiment_rename_requires_member_rights(site):
    """Relabel ``PUT {session}?label=MOD3`` through the owning project: a user who cannot
    see that project -> 404; a collaborator -> 403 (or 417); a member -> 200. Session and
    assessor resources survive the rename.

    Ports NrgXnat/xnat-rest-tests:.../TestRename.testExptWAssessRename. The Java test reads
    the assessor resource through a helper URL; here through
    ``/data/experiments/{session}/assessors/{assessor}`` (project-independent).
    """
    _, http = site
    admin, bob = http["admin"], http["bob"]
    p1, p2 = new_project(admin), new_project(admin)
    new_subject(admin, p1, "3")
    expect(admin.put(f"/data/projects/{p1}/subjects/3/projects/{p2}", params={"label": "3"}), 200)
    session_id = new_session(admin, p1, "3", "MR3")
    expect(admin.put(f"/data/experiments/{session_id}/projects/{p2}", params={"label": "MR3"}), 200, 201)
    expect(admin.put(f"/data/projects/{p1}/subjects/3/experiments/MR3/scans/3",
                     params={"xsiType": "xnat:mrScanData"}), 200)
    add_user(admin, p2, "member", "bob")

    r = expect(admin.put(f"/data/projects/{p2}/subjects/3/experiments/MR3/assessors/QC1",
                         params={"xsiType": "xnat:qcAssessmentData"}), 201)
    qc_id = r.text.strip()
    dcm, jpg = b"DICM" + b"\x01" * 300, b"\xff\xd8\xff" + b"\x02" * 300
    expect(admin.put(f"/data/projects/{p1}/subjects/3/experiments/MR3/resources/TEST/files/1.dcm",
                     files={"file": ("1.dcm", dcm, "application/octet-stream")}), 200)
    expect(admin.put(f"/data/projects/{p2}/subjects/3/experiments/MR3/assessors/QC1/resources/ASSESSOR_RESOURCE/files/louie.jpg",
                     files={"file": ("louie.jpg", jpg, "application/octet-stream")}), 200)

    rename_url = f"/data/projects/{p1}/subjects/3/experiments/MR3"
    expect(bob.put(rename_url, params={"label": "MOD3"}), 404)

    add_user(admin, p1, "collaborator", "bob")
    expect(bob.put(rename_url, params={"label": "MOD3"}), 403, 417)
    assert expect(bob.get(f"{rename_url}/resources/TEST/files/1.dcm"), 200).content == dcm

    add_user(admin, p1, "member", "bob")
    expect(bob.put(rename_url, params={"label": "MOD3"}), 200)
    renamed = f"/data/projects/{p1}/subjects/3/experiments/MOD3"
    assert expect(bob.get(f"{renamed}/resources/TEST/files/1.dcm"), 200).content == dcm
    assert expect(bob.get(f"/data/experiments/{session_id}/assessors/{qc_id}/resources/"
                          "ASSESSOR_RESOURCE/files/louie.jpg"), 200).content == jpg


# --------------------------------------------------------------------------- project validation

_CLASHES = [
    # (Java test, how the new project clashes: query param or "ID", source attribute)
    ("testProjectIdAsTitle", "name", "ID"),
    ("testProjectIdAsSecondaryId", "secondary_ID", "ID"),
    ("testProjectIdAsAlias", "alias", "ID"),
    ("testDuplicateTitle", "name", "name"),
    ("testTitleAsSecondaryId", "secondary_ID", "name"),
    ("testTitleAsProjectId", "ID", "name"),
    ("testTitleAsAlias", "alias", "name"),
    ("testDuplicateSecondaryId", "secondary_ID", "secondary_ID"),
    ("testSecondaryIdAsProjectId", "ID", "secondary_ID"),
    ("testSecondaryIdAsTitle", "name", "secondary_ID"),
    ("testSecondaryIdAsAlias", "alias", "secondary_ID"),
    ("testDuplicateAlias", "alias", "alias"),
    ("testAliasAsProjectId", "ID", "alias"),
    ("testAliasAsTitle", "name", "alias"),
    ("testAliasAsSecondaryId", "secondary_ID", "alias"),
]


@pytest.mark.parametrize("java_test,new_param,source", _CLASHES, ids=[c[0] for c in _CLASHES])
def test_new_project_clashing_with_existing_identifiers(http, java_test, new_param, source):
    """A new project whose ID, name (title), secondary_ID (running title) or alias equals
    (case-insensitively; the Java upper-cases all but the URL ID) any identifier of an
    existing project -> 403 or 409.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectValidation.<java_test>; reference §4
    (project PUT: 409 conflicts; 403 for IDs of deleted projects). XNAT
    ProjectResource.handlePut: "Requested new project conflicts with existing projects".
    """
    existing = {"ID": random_id(), "secondary_ID": random_id(), "name": random_id(),
                "alias": random_id()}
    new_project(http, existing["ID"], secondary_ID=existing["secondary_ID"],
                name=existing["name"], alias=existing["alias"])
    if new_param == "ID":
        r = http.put(f"/data/projects/{existing[source]}")
    else:
        r = http.put(f"/data/projects/{random_id()}", params={new_param: existing[source].upper()})
    expect(r, 403, 409)


def test_existing_project_id_put_by_non_member(site):
    """PUT of an existing project's URL by a user without rights on it -> 403 or 409.

    Ports NrgXnat/xnat-rest-tests:.../TestProjectValidation.testDuplicateId (XNAT
    ProjectResource.handlePut: 403 "doesn't have permission to edit the project").
    """
    _, http = site
    pid = new_project(http["admin"], random_id(), secondary_ID=random_id(), name=random_id(),
                      alias=random_id())
    expect(http["bob"].put(f"/data/projects/{pid}"), 403, 409)
