"""labkit.console: the switch-role link, the federation sign-in URLs, and their checks."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from labkit import console
from labkit.credentials import TemporaryCredentials
from labkit.errors import LabError
from labkit.target import Target

ACCESS = "ASIAZ5EXAMPLE7KEYABC"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDH9Tk3+ExAmPlEtOkEn/////////wEaDMxyz" * 4 + "Q=="
CREDS = TemporaryCredentials(ACCESS, SECRET, TOKEN, datetime(2030, 1, 1, tzinfo=UTC))


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# --- switch role ---------------------------------------------------------------------------------


def test_switch_role_url_has_role_account_and_display_name_in_that_order():
    url = console.switch_role_url("123456789012", "sts_role", "STS lab")
    assert url == ("https://signin.aws.amazon.com/switchrole?roleName=sts_role&account=123456789012"
                   "&displayName=STS+lab")


def test_switch_role_url_without_display_name_and_with_dashed_account_and_path():
    url = console.switch_role_url("1234-5678-9012", "admin", path="/division_abc/")
    assert query(url) == {"roleName": ["division_abc/admin"], "account": ["123456789012"]}


def test_switch_role_url_accepts_an_account_alias_and_encodes_the_display_name():
    url = console.switch_role_url("my-company", "sts_role", "Prod & co")
    assert query(url) == {"roleName": ["sts_role"], "account": ["my-company"], "displayName": ["Prod & co"]}
    assert "Prod+%26+co" in url


@pytest.mark.parametrize("account", ["12345", "1234567890123", "My_Company", "", "my--company", "-company",
                                     "company-", "ab"])
def test_a_wrong_account_says_what_to_give(account):
    with pytest.raises(LabError, match="12-digit account ID"):
        console.switch_role_url(account, "sts_role")


def test_path_and_name_over_64_characters_are_refused_for_the_console():
    name = "r" * 50
    assert console.switch_role_url("123456789012", name, path="/p/")  # 52 characters: fine
    with pytest.raises(LabError, match="at most 64"):
        console.switch_role_url("123456789012", name, path="/a-long-division-path/")


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, None])
def test_a_wrong_role_name_is_refused(name):
    with pytest.raises(LabError, match="not a role name"):
        console.switch_role_url("123456789012", name)


def test_an_empty_display_name_is_refused():
    with pytest.raises(LabError, match="display name is empty"):
        console.switch_role_url("123456789012", "sts_role", "  ")


def test_limits_state_the_documented_rules():
    text = "\n".join(str(limit) for limit in console.LIMITS)
    for fact in ("root user", "IAM Identity Center", "64 characters", "color", "trust policy",
                 "original sign-in", "external ID", "last several roles"):
        assert fact in text


def test_a_console_switch_lasts_the_roles_maximum_within_the_users_own_session():
    """id_roles_use_switch-role-console.html: the role's maximum or the time left in the user's
    session, whichever is less; 1 hour when the switch is role chaining (console included)."""
    rules = {limit.topic: limit.rule for limit in console.LIMITS}
    length = rules["Session length"]
    assert "maximum session duration" in length and "what is left of your own console session" in length
    assert "role chaining" in length and "1 hour" in length
    chaining = rules["Original sign-in"]
    assert "role A to role B" in chaining and "at most 1 hour" in chaining and "IAM Identity Center" in chaining
    text = "\n".join(str(limit) for limit in console.LIMITS)
    for old_claim in ("does not apply", "min, max and default are all 1 h", "up to 5", "per browser"):
        assert old_claim not in text


def test_the_trust_rule_allows_a_trust_policy_that_names_the_user_on_its_own():
    """API_AssumeRole.html: in the same account a trust policy naming the user is enough."""
    trust = {limit.topic: limit.rule for limit in console.LIMITS}["Trust"]
    assert "unless it names the user directly in the same account" in trust


# --- federation sign-in --------------------------------------------------------------------------


def test_signin_token_url_carries_the_session_json_url_encoded():
    url = console.signin_token_url(CREDS, session_duration=3600)
    assert url.startswith("https://signin.aws.amazon.com/federation?Action=getSigninToken&SessionDuration=3600&Session=")
    params = query(url)
    assert params["Action"] == ["getSigninToken"] and params["SessionDuration"] == ["3600"]
    assert json.loads(params["Session"][0]) == {"sessionId": ACCESS, "sessionKey": SECRET, "sessionToken": TOKEN}
    raw_session = url.split("&Session=", 1)[1]
    assert "/" not in raw_session and "%2F" in raw_session and "%2B" in raw_session
    assert json.loads(unquote_plus(raw_session))["sessionKey"] == SECRET  # '/' and '+' survive encoding


def test_signin_token_url_without_session_duration_leaves_it_out():
    assert "SessionDuration" not in console.signin_token_url(CREDS)


@pytest.mark.parametrize("seconds", [899, 43201, 0, True, 3600.0])
def test_session_duration_outside_15_min_to_12_h_is_refused(seconds):
    with pytest.raises(LabError, match="900 s .* 43200 s"):
        console.signin_token_url(CREDS, session_duration=seconds)


@pytest.mark.parametrize("seconds", [900, 43200])
def test_session_duration_limits_are_inclusive(seconds):
    assert f"SessionDuration={seconds}" in console.signin_token_url(CREDS, session_duration=seconds)


def test_masked_versions_never_hold_a_secret_in_full():
    shown = console.masked_signin_token_url(CREDS, 3600) + console.masked_session_json(CREDS)
    for secret in (ACCESS, SECRET, TOKEN, SECRET[:20], TOKEN[:20]):
        assert secret not in shown
        assert secret not in unquote_plus(shown)
    assert json.loads(console.masked_session_json(CREDS)) == {
        "sessionId": "****************YABC", "sessionKey": "****************EKEY",
        "sessionToken": "****************zQ=="}
    masked_session = query(console.masked_signin_token_url(CREDS))["Session"][0]
    assert json.loads(masked_session) == json.loads(console.masked_session_json(CREDS))
    assert "%22****************YABC%22" in console.masked_signin_token_url(CREDS)  # stars stay readable


def test_a_long_term_key_cannot_be_used_for_federation():
    with pytest.raises(LabError, match="no session token"):
        console.signin_token_url(TemporaryCredentials("AKIAZ5EXAMPLE7KEYABC", SECRET))
    with pytest.raises(LabError, match="session.credentials"):
        console.signin_token_url({"AccessKeyId": ACCESS})


def test_login_url_and_its_masked_form():
    url = console.login_url("tok-" + "x" * 40, issuer="https://example.com")
    assert query(url) == {"Action": ["login"], "Issuer": ["https://example.com"],
                          "Destination": ["https://console.aws.amazon.com/"], "SigninToken": ["tok-" + "x" * 40]}
    masked = console.masked_login_url("tok-" + "x" * 40)
    assert "tok-" not in masked and masked.endswith("SigninToken=****************xxxx")
    with pytest.raises(LabError, match="empty"):
        console.login_url("")


def test_federation_is_available_only_on_a_real_aws_endpoint():
    assert console.federation_available(Target("sandbox", "labkit-admin"))[0] is False
    assert "no federation endpoint" in console.federation_available(Target("sandbox", "labkit-admin"))[1]
    assert console.federation_available(Target("aws", "admin"))[0] is True
    assert console.federation_available(Target("aws", "admin", endpoint="http://127.0.0.1:1"))[0] is False


class _Federation(BaseHTTPRequestHandler):
    seen: list[dict] = []
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).seen.append(parse_qs(urlsplit(self.path).query))
        body = json.dumps({"SigninToken": "the-token"}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def federation(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Federation)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(console, "FEDERATION_ENDPOINT", f"http://127.0.0.1:{server.server_port}/federation")
    _Federation.seen, _Federation.status = [], 200
    yield _Federation
    server.shutdown()


def test_request_signin_token_sends_the_session_and_returns_the_token(federation):
    assert console.request_signin_token(CREDS, session_duration=1800) == "the-token"
    (params,) = federation.seen
    assert params["Action"] == ["getSigninToken"] and params["SessionDuration"] == ["1800"]
    assert json.loads(params["Session"][0])["sessionToken"] == TOKEN


def test_a_refusal_from_the_federation_endpoint_is_explained(federation):
    federation.status = 400
    with pytest.raises(LabError, match="HTTP 400") as refused:
        console.request_signin_token(CREDS)
    said = str(refused.value)  # id_roles_providers_enable-console-custom-url.html
    assert "AssumeRole or GetFederationToken" in said
    assert "DurationSeconds must come from an IAM user's long-term key" in said
    assert "SessionDuration cannot be used with GetFederationToken" in said
