"""Notebook 06: the console's switch-role link, for the lab's role in the lab's account.

    https://signin.aws.amazon.com/switchrole?roleName=sts_role&account=123456789012&displayName=STS+lab

The grammar of roleName and account is labkit.console's (the same rules the lab uses to build
the link); the values are compared with the lab's role and account, and an account alias with
the target's own aliases (IAM ListAccountAliases).
"""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import ClientError

from labkit.console import SWITCH_ROLE_ENDPOINT, check_account, check_role_name, switch_role_url
from labkit.errors import LabError
from labkit.exercises.base import Exercise, Mistake, Unusable, refuse_blanks

PARAMETERS = ("roleName", "account", "displayName", "color", "redirect_uri")
_HOST, _PATH = urlsplit(SWITCH_ROLE_ENDPOINT).netloc, urlsplit(SWITCH_ROLE_ENDPOINT).path


class SwitchRoleUrl(Exercise):
    id = "switch-role-url"
    variable = "switch_role_url"
    needs = ("lab",)
    hints = (
        f"The link opens the console's Switch Role page, {SWITCH_ROLE_ENDPOINT}, with the form filled in "
        "by query parameters.",
        "Its parameters are roleName (the role's name, lab.names.role, not its ARN), account (the 12-digit "
        "account ID, lab.account_id) and, if you like, displayName.",
    )
    solution_template = """
        from urllib.parse import urlencode

        switch_role_url = "https://signin.aws.amazon.com/switchrole?" + urlencode(
            {"roleName": lab.names.role, "account": lab.account_id, "displayName": "STS lab"}
        )
    """

    def solution_value(self) -> str:
        return switch_role_url(self.lab.account_id, self.lab.names.role, "STS lab")

    def judge(self, answer: Any, *args: Any) -> list[str]:
        refuse_blanks(answer, "the switch-role URL")
        if not isinstance(answer, str):
            raise Unusable(f"the URL is text (a str), not a {type(answer).__name__}.")
        text = answer.strip()
        if not text:
            raise Unusable(f"there is no URL yet: write {SWITCH_ROLE_ENDPOINT}?roleName=...&account=....")
        if any(ch.isspace() for ch in text):
            raise Mistake("the URL has a space in it: a URL has none (a space in displayName is written +).")
        url = urlsplit(text)
        if url.scheme != "https":
            raise Mistake(f"the URL starts with {url.scheme or 'no scheme'}: the sign-in page is https://{_HOST}.")
        if url.netloc != _HOST:
            raise Mistake(f"the host is {url.netloc or '(none)'}: the switch-role page is on {_HOST}, "
                          f"at {SWITCH_ROLE_ENDPOINT}.")
        if url.path != _PATH:
            raise Mistake(f"the path is {url.path or '/'}: the switch-role page is {_PATH}.")
        params = parse_qs(url.query, keep_blank_values=True)
        for name, values in params.items():
            if name not in PARAMETERS:
                guess = difflib.get_close_matches(name, PARAMETERS, n=1, cutoff=0.6)
                mean = f' did you mean "{guess[0]}"? (names are case-sensitive)' if guess else ""
                raise Mistake(f'"{name}" is not a parameter of the switch-role page:{mean} The page reads roleName, '
                              "account and displayName.")
            if len(values) > 1:
                raise Mistake(f"{name} appears {len(values)} times: give it once.")
        for name in ("roleName", "account"):
            if name not in params or not params[name][0]:
                raise Mistake(f"{name} is missing: the page needs roleName and account to fill in the form.")
        self._role(params["roleName"][0])
        self._account(params["account"][0])
        if "displayName" in params and not params["displayName"][0].strip():
            return ["displayName is empty: give the text to show in the navigation bar, or leave it out."]
        return []

    def _role(self, value: str) -> None:
        lab = self.lab
        if value.startswith("arn:"):
            raise Mistake(f'roleName is the role\'s ARN: give only its name, the part after "role/": '
                          f"roleName={lab.names.role}.")
        try:
            check_role_name(value)
        except LabError as exc:
            raise Mistake(f"roleName: {exc}") from None
        if value != lab.names.role:
            raise Mistake(f'roleName={value} is not the lab\'s role: the role is "{lab.names.role}" '
                          f"(roleName={lab.names.role}).")

    def _account(self, value: str) -> None:
        lab = self.lab
        try:
            account = check_account(value)
        except LabError as exc:
            raise Mistake(f"account: {exc}") from None
        if account.isdigit():
            if account != lab.account_id:
                raise Mistake(f"account={value} is not the lab's account: the role is in account "
                              f"{lab.account_id} (account={lab.account_id}).")
            return
        try:
            aliases = lab.iam.list_account_aliases()["AccountAliases"]
        except ClientError:
            raise Mistake(f"account={value} is an alias the lab cannot look up here: give the 12-digit account "
                          f"ID, {lab.account_id}.") from None
        if account not in aliases:
            known = f" (its alias is {aliases[0]})" if aliases else " (it has no alias)"
            raise Mistake(f"account={value} is not the alias of the lab's account {lab.account_id}{known}: "
                          f"give account={lab.account_id}.")
