"""URL normalisation and the order in which credentials are looked up (env, netrc, prompt)."""

from __future__ import annotations

import os

import pytest

from xnat_container import credentials
from xnat_container.credentials import (CredentialsMissing, UsageError, normalize_url,
                                        resolve_credentials)

URL = "https://xnat.example.org"
SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("given, expected", [
    ("https://xnat.example.org", "https://xnat.example.org"),
    ("https://xnat.example.org/", "https://xnat.example.org"),
    ("  HTTPS://XNAT.Example.org//  ", "https://xnat.example.org"),
    ("http://localhost:8080", "http://localhost:8080"),
    ("https://xnat.example.org/data", "https://xnat.example.org"),
    ("https://xnat.example.org/data/", "https://xnat.example.org"),
    ("https://xnat.example.org/data/projects/P1?format=json", "https://xnat.example.org"),
    ("https://xnat.example.org/REST", "https://xnat.example.org"),
    ("https://xnat.example.org/app/template/Index.vm", "https://xnat.example.org"),
    ("https://host.org/xnat", "https://host.org/xnat"),
    ("https://host.org/xnat/", "https://host.org/xnat"),
    ("https://host.org/xnat/data", "https://host.org/xnat"),
    ("https://host.org/xnat/app/action/DisplayItemAction#x", "https://host.org/xnat"),
    ("https://host.org/data-archive", "https://host.org/data-archive"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
])
def test_normalize_url(given, expected):
    """Site URLs keep scheme, host, port and a deployment prefix; pasted XNAT paths go."""
    assert normalize_url(given) == expected


def test_normalize_url_requires_a_scheme():
    """A host without http(s):// is a usage error (a ValueError) quoting what was given."""
    with pytest.raises(UsageError) as info:
        normalize_url("xnat.example.org")
    assert str(info.value) == ("URL must start with https:// or http://: got "
                               "'xnat.example.org'")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UsageError):
        normalize_url("ftp://xnat.example.org")
    with pytest.raises(UsageError):
        normalize_url("https://")


def test_normalize_url_rejects_credentials_without_echoing_them():
    """user:password@ in the URL is refused and the password is not repeated in the message."""
    for url in (f"https://bob:{SECRET}@xnat.example.org", f"bob:{SECRET}@xnat.example.org"):
        with pytest.raises(UsageError) as info:
            normalize_url(url)
        assert SECRET not in str(info.value)


def write_netrc(path, text: str) -> str:
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_env_beats_netrc(tmp_path):
    """Both env vars set: they win over a matching netrc entry."""
    netrc = write_netrc(tmp_path / "netrc",
                        "machine xnat.example.org login fromnetrc password netrcpw\n")
    env = {"XNAT_USER": "fromenv", "XNAT_PASS": "envpw"}
    assert resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env=env, netrc_path=netrc,
                               interactive=False) == ("fromenv", "envpw")


def test_netrc_entry_by_host(tmp_path):
    """The netrc entry is chosen by the URL's host name (port and path ignored)."""
    netrc = write_netrc(tmp_path / "netrc",
                        "machine other.org login nobody password nopw\n"
                        "machine xnat.example.org login alice password alicepw\n")
    got = resolve_credentials("https://xnat.example.org:8443/xnat", "SRC_USER", "SRC_PASS",
                              env={}, netrc_path=netrc, interactive=False)
    assert got == ("alice", "alicepw")


def test_netrc_from_the_NETRC_variable(tmp_path):
    """Without netrc_path, $NETRC names the file; half-set env vars do not count."""
    netrc = write_netrc(tmp_path / "netrc", "machine xnat.example.org login carol password c\n")
    env = {"NETRC": netrc, "XNAT_USER": "only-user"}
    assert resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env=env,
                               interactive=False) == ("carol", "c")


def test_netrc_syntax_error_names_the_line_not_the_token(tmp_path):
    """A broken netrc is a usage error with the line number, never the offending token."""
    netrc = write_netrc(tmp_path / "netrc",
                        f"machine xnat.example.org login alice password {SECRET} bogus\n")
    with pytest.raises(UsageError) as info:
        resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env={}, netrc_path=netrc,
                            interactive=False)
    assert SECRET not in str(info.value) and "bogus" not in str(info.value)


def test_prompt_when_interactive(tmp_path, monkeypatch):
    """interactive=True and nothing else found: input() asks the user, getpass the password."""
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "dave")
    monkeypatch.setattr(credentials.getpass, "getpass",
                        lambda prompt: prompts.append(prompt) or "davepw")
    got = resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env={},
                              netrc_path=str(tmp_path / "absent"), interactive=True)
    assert got == ("dave", "davepw")
    assert all("xnat.example.org" in p for p in prompts)


def test_no_prompt_when_stdin_is_not_a_terminal(tmp_path, monkeypatch):
    """interactive=None follows sys.stdin.isatty(): a pipe never blocks on a prompt."""
    monkeypatch.setattr(credentials, "_stdin_is_terminal", lambda: False)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("prompted"))
    with pytest.raises(CredentialsMissing):
        resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env={},
                            netrc_path=str(tmp_path / "absent"))


def test_missing_credentials_message(tmp_path):
    """CredentialsMissing is one line naming the host, both env vars and the netrc file."""
    env = {"XNAT_PASS": SECRET}  # half-configured: the password must not leak
    netrc = str(tmp_path / "absent")
    with pytest.raises(CredentialsMissing) as info:
        resolve_credentials(URL, "XNAT_USER", "XNAT_PASS", env=env, netrc_path=netrc,
                            interactive=False)
    message = str(info.value)
    assert "xnat.example.org" in message
    assert "XNAT_USER" in message and "XNAT_PASS" in message and netrc in message
    assert "XNAT_USER is not set" in message
    assert SECRET not in message and "\n" not in message
