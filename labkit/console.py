"""The AWS Management Console side of the walk-through: switch role, and federation sign-in.

The walk-through's use case 1 is "switch role" while signed in to the console as the IAM user.
The console builds that from a link:

    switch_role_url("123456789012", "sts_role", "STS lab")
    # https://signin.aws.amazon.com/switchrole?roleName=sts_role&account=123456789012&displayName=STS+lab

A program that already holds a session's credentials can also open the console as that session
(the "custom identity broker" flow): it exchanges the credentials for a sign-in token at the
federation endpoint (`Action=getSigninToken`), then builds a login URL with the token. The
request URL carries the secret key and session token, so this module only ever shows it masked.

Facts: IAM User Guide, "Switch from a user to an IAM role (console)", "Methods to assume a role"
and "Enable custom identity broker access to the AWS console"; each one, with its page, in
docs/sources.md.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

from labkit.credentials import TemporaryCredentials, mask
from labkit.errors import LabError

SWITCH_ROLE_ENDPOINT = "https://signin.aws.amazon.com/switchrole"
FEDERATION_ENDPOINT = "https://signin.aws.amazon.com/federation"
CONSOLE_HOME = "https://console.aws.amazon.com/"
SESSION_DURATION_RANGE = (900, 43200)  # getSigninToken's SessionDuration, seconds
SWITCH_ROLE_NAME_LIMIT = 64  # path + role name, for the console's Switch Role (a cookie limit)

_ACCOUNT_ID = re.compile(r"\d{12}")
_ACCOUNT_ALIAS = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]")  # IAM's AccountAlias pattern
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_ROLE_PATH = re.compile(r"/(?:[\x21-\x7e]*/)?")


@dataclass(frozen=True)
class Limit:
    """One rule of the console's role switching, in plain words."""

    topic: str
    rule: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.rule}"


LIMITS = (
    Limit("Who can switch", "You can switch roles when signed in as an IAM user, an IAM Identity "
          "Center user, or a SAML- or web-identity-federated role; not as the account's root user."),
    Limit("Trust", "The role's trust policy must trust the signed-in user or their account, and, "
          "unless it names the user directly in the same account, the user's own policy must allow "
          "sts:AssumeRole on the role (notebook 02)."),
    Limit("Session length", "A switch lasts as long as the role's maximum session duration (1 hour "
          "unless the role is set longer), but never longer than what is left of your own console "
          "session, and at most 1 hour when the switch is role chaining (see Original sign-in)."),
    Limit("Original sign-in", "The console always uses your original sign-in to authorize a switch: "
          "switching from role A to role B checks your user's permissions, not role A's. The 1-hour "
          "cap on role chaining applies in the console too: when your sign-in is itself a role "
          "session (IAM Identity Center, SAML or web-identity federation), every switch is role "
          "chaining and lasts at most 1 hour."),
    Limit("One set of permissions", "Permissions do not add up: while the role is active the "
          "user's own permissions are set aside; 'Switch back' restores them."),
    Limit("Name length", f"The role's path plus name may not exceed {SWITCH_ROLE_NAME_LIMIT} "
          "characters for Switch Role (the console keeps it in a browser cookie)."),
    Limit("External ID", "You cannot switch in the console to a role whose trust policy requires an "
          "external ID (sts:ExternalId); only the AssumeRole API can pass one."),
    Limit("Display name and color", "The display name and a color you pick replace your user "
          "name in the navigation bar while the role is active (e.g. green 'Test', red "
          "'Production')."),
    Limit("Recent roles", "The console's account menu lists the last several roles you switched to, "
          "so you can switch again with one click; other roles must be typed again, or opened from "
          "a switch-role link."),
)


def check_account(account: str) -> str:
    """A 12-digit account ID (dashes allowed, as the console prints it) or an account alias."""
    text = str(account).strip()
    digits = text.replace("-", "")
    if _ACCOUNT_ID.fullmatch(digits):
        return digits
    if _ACCOUNT_ALIAS.fullmatch(text) and not text.isdigit():
        return text
    raise LabError(f"'{account}' is not an account: give the 12-digit account ID (e.g. 123456789012) "
                   "or the account's alias (lower-case letters, digits and single hyphens, not at either end).")


def check_role_name(role_name: str, path: str = "/") -> str:
    """The value of `roleName=`: path (without the leading /) and name, at most 64 characters."""
    if not isinstance(role_name, str) or not _ROLE_NAME.fullmatch(role_name):
        raise LabError(f"{role_name!r} is not a role name: use 1 to 64 letters, digits or + = , . @ - _ "
                       "(the last part of the role ARN, e.g. sts_role).")
    if not _ROLE_PATH.fullmatch(path or "/"):
        raise LabError(f"{path!r} is not a role path: it starts and ends with '/', e.g. /division_abc/.")
    full = (path or "/").lstrip("/") + role_name
    if len(full) > SWITCH_ROLE_NAME_LIMIT:
        raise LabError(f"'{full}' is {len(full)} characters: the console's Switch Role accepts at most "
                       f"{SWITCH_ROLE_NAME_LIMIT} for path and name together. Use a shorter role name or path.")
    return full


def switch_role_url(account: str, role_name: str, display_name: str | None = None, path: str = "/") -> str:
    """The link that opens the console's Switch Role page with account and role filled in."""
    params = {"roleName": check_role_name(role_name, path), "account": check_account(account)}
    if display_name is not None:
        display = str(display_name).strip()
        if not display:
            raise LabError("The display name is empty: give the text to show in the navigation bar, "
                           "or leave it out.")
        params["displayName"] = display
    return f"{SWITCH_ROLE_ENDPOINT}?{urlencode(params)}"


# --- federation sign-in (getSigninToken) -----------------------------------------------------------


def _session_json(access_key_id: str, secret_access_key: str, session_token: str) -> str:
    return json.dumps({"sessionId": access_key_id, "sessionKey": secret_access_key,
                       "sessionToken": session_token}, separators=(",", ":"))


def _check_session(creds: TemporaryCredentials) -> None:
    if not isinstance(creds, TemporaryCredentials):
        raise LabError("Pass the session's credentials (session.credentials), not "
                       f"{type(creds).__name__}.")
    if not creds.session_token:
        raise LabError("These credentials have no session token: the federation endpoint only accepts "
                       "temporary credentials from AssumeRole or GetFederationToken, not a user's long-term key.")


def check_session_duration(seconds: int | None) -> int | None:
    if seconds is None:
        return None
    low, high = SESSION_DURATION_RANGE
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not low <= seconds <= high:
        raise LabError(f"SessionDuration {seconds!r} is out of range: the console session may last "
                       f"from {low} s (15 minutes) to {high} s (12 hours).")
    return seconds


def session_parameter(creds: TemporaryCredentials) -> str:
    """The `Session` value: {"sessionId","sessionKey","sessionToken"} URL-encoded. Holds the secrets."""
    _check_session(creds)
    return quote_plus(_session_json(creds.access_key_id, creds.secret_access_key, creds.session_token or ""))


def signin_token_url(creds: TemporaryCredentials, session_duration: int | None = None) -> str:
    """The getSigninToken request. It holds the secret key and token in full: never display it."""
    query = "Action=getSigninToken"
    if check_session_duration(session_duration) is not None:
        query += f"&SessionDuration={session_duration}"
    return f"{FEDERATION_ENDPOINT}?{query}&Session={session_parameter(creds)}"


def masked_session_json(creds: TemporaryCredentials) -> str:
    """The Session JSON with every value masked, safe to show."""
    _check_session(creds)
    return _session_json(mask(creds.access_key_id), mask(creds.secret_access_key),
                         mask(creds.session_token or ""))


def masked_signin_token_url(creds: TemporaryCredentials, session_duration: int | None = None) -> str:
    """The same request as `signin_token_url`, with the three values masked (the * left readable)."""
    query = "Action=getSigninToken"
    if check_session_duration(session_duration) is not None:
        query += f"&SessionDuration={session_duration}"
    return f"{FEDERATION_ENDPOINT}?{query}&Session={quote_plus(masked_session_json(creds), safe='*')}"


def login_url(signin_token: str, destination: str = CONSOLE_HOME, issuer: str | None = None) -> str:
    """Step 2: the console login URL. Valid for 15 minutes, and it IS a credential: keep it secret."""
    if not signin_token or not isinstance(signin_token, str):
        raise LabError("The sign-in token is empty: request one with getSigninToken first.")
    params = {"Action": "login"}
    if issuer:
        params["Issuer"] = issuer
    params["Destination"] = destination
    params["SigninToken"] = signin_token
    return f"{FEDERATION_ENDPOINT}?{urlencode(params)}"


def masked_login_url(signin_token: str, destination: str = CONSOLE_HOME, issuer: str | None = None) -> str:
    return login_url(mask(signin_token), destination, issuer).replace("%2A", "*")


def federation_available(target) -> tuple[bool, str]:
    """Whether this target has a federation endpoint to ask for a sign-in token, and why not."""
    if target.is_sandbox:
        return False, ("The sandbox has no federation endpoint and no console: the sign-in token and "
                       "the console exist only at signin.aws.amazon.com. Here the lab shows the request "
                       "it would send; against a real account (LABKIT_TARGET=aws) it can send it.")
    if target.endpoint:
        return False, (f"This target's API endpoint is {target.endpoint}, not AWS: the federation "
                       "endpoint at signin.aws.amazon.com would not know these credentials.")
    return True, "This is a real AWS account: the federation endpoint can turn the session into a sign-in token."


def request_signin_token(creds: TemporaryCredentials, session_duration: int | None = None,
                         timeout: float = 20.0) -> str:
    """Ask signin.aws.amazon.com for a sign-in token (real AWS only). The token is a secret."""
    url = signin_token_url(creds, session_duration)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise LabError(f"The federation endpoint refused the request (HTTP {exc.code}). It accepts unexpired "
                       "temporary credentials from AssumeRole or GetFederationToken; an AssumeRole session "
                       "requested with DurationSeconds must come from an IAM user's long-term key, and "
                       "SessionDuration cannot be used with GetFederationToken credentials.") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"Could not reach the federation endpoint ({exc}); check the network.") from None
    token = body.get("SigninToken") if isinstance(body, dict) else None
    if not token:
        raise LabError("The federation endpoint answered without a SigninToken.")
    return token
