"""Notebook 02's two documents: the user's policy and the role's trust policy.

Each answer is judged in three steps:

1. Grammar, as IAM would refuse it when the policy is saved: `labkit.iam.parse_policy` (plus the
   rules of a trust policy that IAM enforces on CreateRole / UpdateAssumeRolePolicy: no Resource,
   no NotPrincipal), in words that name the element and what to change.
2. The lab's request, decided by `labkit.iam`'s evaluation: does the user's policy allow
   sts:AssumeRole on the lab's role; does the trust policy let the lab's user assume it? When not,
   the statement and element to blame are found by evaluating each one on its own.
3. Who else it lets in: the same evaluation for another role, another user of the lab's account,
   a user of the partner account and a user of an unknown account. A correct answer that lets
   any of them in passes, with a warning that names the element to narrow.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from dataclasses import dataclass
from typing import Any

from labkit import policies as lab_policies
from labkit.exercises.base import Exercise, Mistake, load_json, quoted, where
from labkit.iam import (
    Caller,
    Decision,
    PolicyError,
    Request,
    evaluate,
    evaluate_resource_policy,
    parse_policy,
)

ASSUME_ROLE = "sts:AssumeRole"
CURRENT_VERSION = "2012-10-17"
OLD_VERSION = "2008-10-17"
PARTNER = "210987654321"  # the sandbox's second account: "another account" in the checks
STRANGER = "999988887777"  # an account nobody in the lab uses: "anyone"
_ACCOUNT_ID = re.compile(r"\d{12}")
_ARN = re.compile(r"arn:(?P<partition>[\w-]+):(?P<service>[\w-]*):(?P<region>[\w-]*):"
                  r"(?P<account>[^:]*):(?P<resource>.*)")
# IAM actions of STS that are not API operations (Service Authorization Reference)
_STS_PERMISSION_ONLY = ("TagSession", "SetSourceIdentity", "SetContext")


@functools.cache
def sts_actions() -> tuple[str, ...]:
    """Every STS action name: the API's operations (botocore's model) and the permission-only ones."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sts")
    return tuple(sorted({*model.operation_names, *_STS_PERMISSION_ONLY}))


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(document: dict) -> list[tuple[str, dict]]:
    """(label, statement) in order, labelled as messages name them: Statement 1, Statement 2..."""
    raw = document.get("Statement")
    found = raw if isinstance(raw, list) else [raw]
    return [(where(("Statement", i)) if isinstance(raw, list) else "The statement", s)
            for i, s in enumerate(found) if isinstance(s, dict)]


def single(document: dict, statement: dict, **changes: Any) -> dict:
    """A one-statement policy: `statement` with some elements replaced (None removes one)."""
    changed = copy.deepcopy(statement)
    for key, value in changes.items():
        changed.pop(key, None)
        if value is not None:
            changed[key] = value
    policy = {"Statement": [changed]}
    if "Version" in document:
        policy["Version"] = document["Version"]
    return policy


def user_context(arn: str, account: str) -> dict[str, Any]:
    """The request context of a call made with an IAM user's access key (no MFA, no tags)."""
    return {"aws:PrincipalArn": arn, "aws:PrincipalAccount": account, "aws:PrincipalType": "User",
            "aws:username": arn.rsplit("/", 1)[-1], "aws:SecureTransport": True}


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    account: str
    resource: str

    @classmethod
    def parse(cls, value: Any) -> Arn | None:
        match = _ARN.fullmatch(value) if isinstance(value, str) else None
        if not match:
            return None
        return cls(match["partition"], match["service"], match["account"], match["resource"])

    @property
    def kind(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.resource.rsplit("/", 1)[-1]


def _other_account(account: str) -> str:
    return "the partner account" if account == PARTNER else "another account"


def not_the_role(value: Any, lab) -> str:
    """Why `value` (which should be the lab role's ARN) is not it, and what to write instead."""
    want = lab.role_arn
    if not isinstance(value, str):
        return f"{quoted(value)} is not an ARN: write the role's ARN, \"{want}\"."
    arn = Arn.parse(value)
    if arn is None:
        if value == lab.names.role:
            return f'"{value}" is the role\'s name, but this needs its ARN: write "{want}".'
        return f'"{value}" is not an ARN: write the role\'s ARN, "{want}".'
    if arn.service != "iam":
        return (f'"{value}" is an {arn.service or "empty-service"} ARN, but a role is an IAM resource '
                f'(arn:aws:iam::...:role/NAME): write "{want}".')
    if arn.account != lab.account_id:
        return (f'"{value}" is in account {arn.account or "(none)"}, {_other_account(arn.account)}, but the lab\'s '
                f'role is in account {lab.account_id}: write "{want}".')
    if arn.kind == "user":
        return f'"{value}" is the ARN of the user {arn.name}, not of the role: write the role\'s ARN, "{want}".'
    if arn.kind == "role":
        same = " (ARNs are case-sensitive)" if arn.name.lower() == lab.names.role.lower() else ""
        return f'"{value}" names the role "{arn.name}", not the lab\'s role "{lab.names.role}"{same}: write "{want}".'
    return f'"{value}" does not name the lab\'s role: write "{want}".'


def not_the_user(value: Any, lab) -> str:
    """Why a Principal value (which should name the lab user) does not, and what to write."""
    want = lab.user_arn
    if not isinstance(value, str):
        return f"{quoted(value)} is not an ARN: write the user's ARN, \"{want}\"."
    if _ACCOUNT_ID.fullmatch(value):
        return (f'"{value}" is {_other_account(value)} ({value}), but the lab\'s user is in account '
                f'{lab.account_id}: name the user, "{want}".')
    arn = Arn.parse(value)
    if arn is None:
        if value == lab.names.user:
            return f'"{value}" is the user\'s name, but a Principal needs its ARN: write "{want}".'
        return (f'"{value}" is neither an ARN nor an account ID (IAM refuses it: "Invalid principal in '
                f'policy"): write the user\'s ARN, "{want}".')
    if arn.service == "sts":
        return (f'"{value}" is a role session (an sts ARN), not the lab\'s user: write the user\'s ARN, '
                f'"{want}".')
    if arn.service != "iam":
        return f'"{value}" is not an IAM ARN: write the user\'s ARN, "{want}".'
    if arn.account != lab.account_id:
        return (f'"{value}" is in account {arn.account}, {_other_account(arn.account)}, but the lab\'s user '
                f'is in account {lab.account_id}: write "{want}".')
    if arn.kind == "user":
        return f'"{value}" names the user "{arn.name}", not the lab\'s user "{lab.names.user}": write "{want}".'
    if arn.kind == "role":
        return (f'"{value}" names the role "{arn.name}" (only its sessions could assume this role), not the '
                f'lab\'s user: write "{want}".')
    return f'"{value}" does not name the lab\'s user: write "{want}".'


def action_problem(label: str, statement: dict, action: str = ASSUME_ROLE) -> str:
    """Why a statement's Action does not cover sts:AssumeRole."""
    if "NotAction" in statement:
        return (f"{label}'s NotAction {quoted(statement['NotAction'])} excludes {action}: write "
                f'"Action": "{action}" instead.')
    values = as_list(statement.get("Action"))
    names = {a.lower(): a for a in sts_actions()}
    for value in values:
        if not isinstance(value, str):
            continue
        prefix, _, name = value.partition(":")
        if name.lower() == "assumerole" and prefix.lower() != "sts":
            return (f'{label}\'s Action "{value}": AssumeRole is an STS action, so its prefix is "sts": '
                    f'write "{action}".')
        if prefix.lower() == "sts":
            if name.lower() in names:
                return f'{label}\'s Action "{value}" is another STS call: the call to allow is "{action}".'
            close = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.75)
            if close:
                return (f'{label}\'s Action "{value}" is not an STS action, so it allows nothing: did you mean '
                        f'"sts:{names[close[0]]}"?')
    return f'{label}\'s Action {quoted(statement.get("Action"))} does not include {action}: write "{action}".'


def condition_problem(label: str, statement: dict) -> str:
    return (f"{label}'s Condition {quoted(statement.get('Condition'))} does not hold for the lab's call "
            "(the user's own access key: no MFA, no external ID, no tags): remove the Condition.")


# --- grammar -----------------------------------------------------------------------------------


def lab_rules(document: Any, kind: str) -> str | None:
    """The mistakes learners make most, in the lab's words (IAM refuses all but Version missing)."""
    if not isinstance(document, dict):
        return None
    for label, statement in statements(document):
        effect = statement.get("Effect")
        if effect is not None and effect not in ("Allow", "Deny"):
            guess = difflib.get_close_matches(str(effect).capitalize(), ["Allow", "Deny"], n=1, cutoff=0.5)
            mean = f' (did you mean "{guess[0]}"?)' if guess else ""
            return (f'{label}\'s Effect is {quoted(effect)}{mean}: it must be exactly "Allow" or "Deny", '
                    "with a capital first letter.")
        if kind == "identity":
            for element in ("Principal", "NotPrincipal"):
                if element in statement:
                    return (f"{label} has {element}, but a user's policy applies to the user it is attached "
                            f"to: remove {element} (it belongs in resource-based policies, such as a role's "
                            "trust policy).")
        else:
            for element in ("Resource", "NotResource"):
                if element in statement:
                    return (f"{label} has {element}, but a trust policy is attached to the role itself, "
                            f'which is its resource: remove {element} (IAM refuses it: "Has prohibited '
                            f'field {element}").')
            if "NotPrincipal" in statement:
                return (f'{label} has NotPrincipal, which IAM refuses in a role\'s trust policy: say who may '
                        'assume the role with "Principal": {"AWS": "<the user\'s ARN>"}.')
            principal = statement.get("Principal")
            for key in principal if isinstance(principal, dict) else ():
                proper = {k.lower(): k for k in ("AWS", "Service", "Federated", "CanonicalUser")}.get(str(key).lower())
                if proper and key != proper:
                    return f'{label}\'s Principal has the key "{key}": write it "{proper}", exactly so.'
            if isinstance(principal, str) and principal != "*" or isinstance(principal, list):
                return (f"{label}'s Principal is {quoted(principal)}, a bare value: a Principal is an object "
                        f'that says what kind of principal it names: write {{"AWS": {quoted(principal)}}}.')
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and action != "*" and ":" not in action:
                sts = {a.lower(): a for a in sts_actions()}.get(action.lower())
                example = f"sts:{sts}" if sts else ASSUME_ROLE
                return (f'{label}\'s Action "{action}" has no service prefix: write it as service:Action, '
                        f'e.g. "{example}".')
    version = document.get("Version")
    if version is not None and version not in (CURRENT_VERSION, OLD_VERSION):
        return (f'Version {quoted(version)} is not a policy language version (it is not a date you choose: '
                f'it names the policy grammar): write "Version": "{CURRENT_VERSION}".')
    return None


def check_grammar(document: Any, kind: str) -> dict:
    """The document as IAM would read it when saved, or the Mistake IAM would refuse it for."""
    mine = lab_rules(document, kind)
    try:
        parsed = parse_policy(document, kind=kind)
    except PolicyError as exc:
        raise Mistake(mine or f"IAM would refuse this policy: {exc}") from None
    if mine:
        raise Mistake(mine)
    if "Version" not in parsed:
        raise Mistake(f'the policy has no Version: add "Version": "{CURRENT_VERSION}" (without it IAM reads '
                      f"the policy in the old {OLD_VERSION} language, where policy variables do not work).")
    return dict(parsed)


def version_warning(document: dict) -> list[str]:
    if document.get("Version") == OLD_VERSION:
        return [f'Version "{OLD_VERSION}" is the old policy language: write "{CURRENT_VERSION}", the '
                "current one (policy variables need it)."]
    return []


# --- the two exercises ---------------------------------------------------------------------------


class UserPolicy(Exercise):
    id = "user-policy"
    variable = "user_policy"
    needs = ("lab",)
    hints = (
        'An identity policy has "Version" and a list of "Statement"s; each statement has "Effect", '
        '"Action" and "Resource" (and no "Principal": it applies to the user it is attached to).',
        'The action is the API call the user makes, written service:Call: "sts:AssumeRole". '
        "The Resource is what the call acts on: the role, by its ARN (lab.role_arn).",
    )
    solution_template = """
        user_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": ["sts:AssumeRole"],
                    "Effect": "Allow",
                    "Resource": [lab.role_arn],
                }
            ],
        }
    """

    def solution_value(self) -> dict:
        return lab_policies.assume_role_policy(self.lab.role_arn)

    def _request(self, resource: str, action: str = ASSUME_ROLE) -> Request:
        return Request(action, resource, user_context(self.lab.user_arn, self.lab.account_id))

    def _allows(self, document: dict, request: Request) -> Decision:
        return evaluate([("answer", document)], request).decision

    def judge(self, answer: Any, *args: Any) -> list[str]:
        loaded = load_json(answer, "policy", '{"Version": "2012-10-17", "Statement": [...]}')
        lab = self.lab
        named = self._resource_not_an_arn(loaded)
        if named:  # before IAM's grammar, whose message cannot know the role's ARN
            raise Mistake(named)
        document = check_grammar(loaded, "identity")
        request = self._request(lab.role_arn)
        decision = self._allows(document, request)
        if decision is Decision.EXPLICIT_DENY:
            label = next(label for label, s in statements(document) if s["Effect"] == "Deny"
                         and self._allows(single(document, s), request) is Decision.EXPLICIT_DENY)
            raise Mistake(f"{label} denies sts:AssumeRole on the lab's role, and a Deny always wins over an "
                          "Allow: remove that statement (or make it about something else).")
        if decision is not Decision.ALLOW:
            raise Mistake(self._why_not(document, request))
        return version_warning(document) + self._risks(document)

    def _resource_not_an_arn(self, document: Any) -> str | None:
        """A Resource that is a name rather than an ARN (IAM refuses it): say which ARN to write."""
        if not isinstance(document, dict):
            return None
        for label, statement in statements(document):
            for value in as_list(statement.get("Resource")):
                if isinstance(value, str) and value != "*" and not value.startswith("arn:"):
                    return f"{label}'s Resource: {not_the_role(value, self.lab)}"
        return None

    def _why_not(self, document: dict, request: Request) -> str:
        allows = [(label, s) for label, s in statements(document) if s["Effect"] == "Allow"]
        if not allows:
            return 'no statement has "Effect": "Allow", so nothing is allowed: write "Effect": "Allow".'
        acting = [(label, s) for label, s in allows
                  if self._allows(single(document, s, Resource="*", NotResource=None, Condition=None),
                                  request) is Decision.ALLOW]
        if not acting:
            return action_problem(*allows[0])
        aimed = [(label, s) for label, s in acting
                 if self._allows(single(document, s, Condition=None), request) is Decision.ALLOW]
        if not aimed:
            label, statement = acting[0]
            if "NotResource" in statement:
                return (f"{label}'s NotResource {quoted(statement['NotResource'])} excludes the lab's role: write "
                        f'"Resource": "{self.lab.role_arn}" instead.')
            value = as_list(statement.get("Resource"))[0]
            why = not_the_role(value, self.lab)
            if value == self.lab.user_arn:  # the user's own ARN: a mix-up of who and what
                why += " In the user's policy, Resource is what the user acts on: the role it may assume."
            return f"{label}'s Resource {why}"
        return condition_problem(*aimed[0])

    def _risks(self, document: dict) -> list[str]:
        """What else the policy lets the user do: other roles, other actions."""
        lab = self.lab
        risks: list[str] = []
        elsewhere = (f"arn:aws:iam::{PARTNER if lab.account_id != PARTNER else STRANGER}:role/another-role")
        nearby = f"arn:aws:iam::{lab.account_id}:role/another-role"
        others = [a for a in sts_actions() if a != "AssumeRole"]
        for label, statement in statements(document):
            if statement["Effect"] != "Allow":
                continue
            for value in as_list(statement.get("Resource")):
                one = single(document, statement, Resource=value, NotResource=None)
                if self._allows(one, self._request(elsewhere)) is Decision.ALLOW:
                    risks.append(f'{label}\'s Resource "{value}" lets the user assume any role, in any account, '
                                 f'whose trust policy accepts them: name the one role, "{lab.role_arn}".')
                elif self._allows(one, self._request(nearby)) is Decision.ALLOW:
                    risks.append(f'{label}\'s Resource "{value}" lets the user assume any role of account '
                                 f'{lab.account_id} that trusts them: name the one role, "{lab.role_arn}".')
                elif value != lab.role_arn and self._allows(one, self._request(value)) is Decision.ALLOW:
                    risks.append(f'{label}\'s Resource "{value}" also lets the user assume that role: the '
                                 f'exercise needs only "{lab.role_arn}".')
            for value in as_list(statement.get("Action")):
                one = single(document, statement, Action=value, Resource="*", NotResource=None, Condition=None)
                if self._allows(one, self._request("*")) is not Decision.ALLOW:
                    risks.append(f'{label}\'s Action "{value}" is not needed here: the user needs only '
                                 f'"{ASSUME_ROLE}" (a policy should allow only what it is for).')
                    continue
                extra = next((f"sts:{a}" for a in others
                              if self._allows(one, self._request("*", f"sts:{a}")) is Decision.ALLOW), None)
                if extra:
                    risks.append(f'{label}\'s Action "{value}" also allows {extra} and more: the user needs '
                                 f'only "{ASSUME_ROLE}".')
            if "NotAction" in statement:
                risks.append(f"{label}'s NotAction allows every action it does not list: write "
                             f'"Action": "{ASSUME_ROLE}".')
        return risks


class TrustPolicy(Exercise):
    id = "trust-policy"
    variable = "trust_policy"
    needs = ("lab",)
    hints = (
        'A trust policy is attached to the role: its statement says who ("Principal") may do what '
        '("Action") to the role. It has no "Resource": the role itself is the resource.',
        'The Principal is an object that names the kind of principal: {"AWS": <the user\'s ARN>}, with '
        'lab.user_arn; the Action is "sts:AssumeRole".',
    )
    solution_template = """
        trust_policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "",
                    "Effect": "Allow",
                    "Principal": {"AWS": lab.user_arn},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    """

    def solution_value(self) -> dict:
        return lab_policies.trust_policy(self.lab.user_arn)

    def _callers(self) -> dict[str, Caller]:
        lab = self.lab
        partner = PARTNER if lab.account_id != PARTNER else "111122223333"
        return {
            "user": Caller(lab.user_arn, lab.account_id),
            "anyone": Caller(f"arn:aws:iam::{STRANGER}:user/someone", STRANGER),
            "partner": Caller(f"arn:aws:iam::{partner}:user/partner-user", partner),
            "colleague": Caller(f"arn:aws:iam::{lab.account_id}:user/another-user", lab.account_id),
        }

    def _principal_not_an_arn(self, document: Any) -> str | None:
        """A Principal "AWS" value that is a name rather than an ARN or account (IAM refuses it)."""
        if not isinstance(document, dict):
            return None
        for label, statement in statements(document):
            principal = statement.get("Principal")
            names = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
            for value in names:
                if (isinstance(value, str) and value != "*" and not value.startswith("arn:")
                        and not _ACCOUNT_ID.fullmatch(value)):
                    return f"{label}'s Principal: {not_the_user(value, self.lab)}"
        return None

    def _trusts(self, document: dict, caller: Caller, action: str = ASSUME_ROLE) -> Decision:
        request = Request(action, self.lab.role_arn, user_context(caller.arn, caller.account))
        return evaluate_resource_policy(document, caller, request).decision

    def judge(self, answer: Any, *args: Any) -> list[str]:
        loaded = load_json(answer, "trust policy", '{"Version": "2012-10-17", "Statement": [...]}')
        named = self._principal_not_an_arn(loaded)
        if named:  # before IAM's grammar, whose message cannot know the user's ARN
            raise Mistake(named)
        document = check_grammar(loaded, "resource")
        user = self._callers()["user"]
        decision = self._trusts(document, user)
        if decision is Decision.EXPLICIT_DENY:
            label = next(label for label, s in statements(document) if s["Effect"] == "Deny"
                         and self._trusts(single(document, s), user) is Decision.EXPLICIT_DENY)
            raise Mistake(f"{label} denies the lab's user, and a Deny always wins over an Allow: remove that "
                          "statement (or make it name someone else).")
        if decision is not Decision.ALLOW:
            raise Mistake(self._why_not(document, user))
        return version_warning(document) + self._risks(document)

    def _why_not(self, document: dict, user: Caller) -> str:
        allows = [(label, s) for label, s in statements(document) if s["Effect"] == "Allow"]
        if not allows:
            return 'no statement has "Effect": "Allow", so nobody may assume the role: write "Effect": "Allow".'
        naming = [(label, s) for label, s in allows
                  if self._trusts(single(document, s, Action="*", NotAction=None, Condition=None), user)
                  is Decision.ALLOW]
        if not naming:
            return self._principal_problem(*allows[0])
        acting = [(label, s) for label, s in naming
                  if self._trusts(single(document, s, Condition=None), user) is Decision.ALLOW]
        if not acting:
            return action_problem(*naming[0])
        return condition_problem(*acting[0])

    def _principal_problem(self, label: str, statement: dict) -> str:
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "AWS" in principal:
            return f"{label}'s Principal: {not_the_user(as_list(principal['AWS'])[0], self.lab)}"
        if isinstance(principal, dict):
            key, values = next(iter(principal.items()))
            return (f"{label}'s Principal names {quoted({key: values})}, a {key} principal, not the lab's "
                    f'user: write {{"AWS": "{self.lab.user_arn}"}}.')
        return f'{label}\'s Principal does not name the lab\'s user: write {{"AWS": "{self.lab.user_arn}"}}.'

    def _risks(self, document: dict) -> list[str]:
        """Whom else the trust policy lets in, by statement and principal, and what else they may do."""
        callers = self._callers()
        lab = self.lab
        risks: list[str] = []
        for label, statement in statements(document):
            if statement["Effect"] != "Allow":
                continue
            principal = statement.get("Principal")
            values = [("*", "*")] if principal == "*" else [
                (key, value) for key, listed in principal.items() for value in as_list(listed)]
            for key, value in values:
                one = single(document, statement, Principal="*" if key == "*" else {key: value})
                shown = '"*"' if key == "*" else quoted({key: value})
                if key not in ("AWS", "*"):
                    risks.append(f"{label}'s Principal {shown} also trusts that {key} principal: remove it unless "
                                 "it must assume this role.")
                elif self._trusts(one, callers["anyone"]) is Decision.ALLOW:
                    risks.append(f"{label}'s Principal {shown} lets anyone, in any AWS account, assume this role "
                                 f'(only their own account\'s policies limit them): name the user, {{"AWS": '
                                 f'"{lab.user_arn}"}}, or add a Condition on aws:PrincipalArn.')
                elif self._trusts(one, callers["partner"]) is Decision.ALLOW:
                    risks.append(f"{label}'s Principal {shown} also trusts another account "
                                 f"({callers['partner'].account}): people there whose own policy allows it can "
                                 "assume this role. Name only the lab's user.")
                elif self._trusts(one, callers["colleague"]) is Decision.ALLOW:
                    risks.append(f"{label}'s Principal {shown} trusts the whole account {lab.account_id}: any user "
                                 "or role in it whose own policy allows sts:AssumeRole can assume this role, not "
                                 f'only {lab.names.user}. Name the user\'s ARN, "{lab.user_arn}", to trust only it.')
                elif self._trusts(one, callers["user"]) is not Decision.ALLOW:
                    risks.append(f"{label}'s Principal {shown} also lets that principal assume this role: remove "
                                 "it unless you mean to.")
            for value in as_list(statement.get("Action")):
                if "*" not in value and "?" not in value:
                    continue
                one = single(document, statement, Action=value)
                extra = next((f"sts:{a}" for a in ("TagSession", "SetSourceIdentity", "AssumeRoleWithWebIdentity")
                              if self._trusts(one, callers["user"], f"sts:{a}") is Decision.ALLOW), None)
                if extra:
                    risks.append(f'{label}\'s Action "{value}" also allows {extra} and more: write '
                                 f'"{ASSUME_ROLE}".')
        return risks
