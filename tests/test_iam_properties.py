"""Generated tests of labkit.iam: properties that hold whatever the policies and the request.

A small seeded generator (random.Random) writes policies of every kind (identity, boundary,
session, trust, resource) from pools of actions, ARNs, variables and condition operators, and
requests from callers of two accounts. Each property is checked on a few thousand cases; a
failure prints the seed and the case so it can be replayed.

Properties (AWS IAM User Guide, "Policy evaluation logic"):
* an explicit Deny that applies always wins;
* adding an Allow statement never turns an Allow into a denial;
* session policies and permissions boundaries never widen what is allowed;
* the decision does not depend on the order of statements or policies;
* a policy read back from its JSON text decides exactly as the policy it was written from;
* with identity-based policies alone, ``authorize`` and ``evaluate`` agree.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from labkit.iam import (
    Caller,
    Decision,
    Request,
    authorize,
    evaluate,
    parse_policy,
    serialize,
)

SEED = 20260131
CASES = 1500

ACCT, OTHER = "111122223333", "444455556666"
ACTIONS = ["sts:AssumeRole", "sts:TagSession", "ec2:DescribeInstances", "ec2:RunInstances",
           "iam:GetUser", "s3:GetObject"]
ACTION_PATTERNS = ACTIONS + ["*", "sts:*", "sts:Assume*", "ec2:Describe*", "iam:Get?ser",
                             "STS:assumerole", "s3:*Object", "ec2:Run*"]
ROLES = [f"arn:aws:iam::{ACCT}:role/Lab", f"arn:aws:iam::{ACCT}:role/team/Ops",
         f"arn:aws:iam::{OTHER}:role/Partner"]
USERS = [f"arn:aws:iam::{ACCT}:user/alice", f"arn:aws:iam::{ACCT}:user/bob",
         f"arn:aws:iam::{OTHER}:user/eve"]
RESOURCES = ROLES + USERS + ["arn:aws:s3:::lab-bucket/alice/report", "*"]
RESOURCE_PATTERNS = RESOURCES + [
    "*", f"arn:aws:iam::{ACCT}:role/*", "arn:aws:iam::*:role/*", "arn:aws:iam::*:*",
    f"arn:aws:iam::{ACCT}:user/${{aws:username}}", "arn:aws:iam::${aws:PrincipalAccount}:role/*",
    f"arn:aws:iam::{ACCT}:role/${{aws:PrincipalTag/team}}", "arn:aws:s3:::lab-bucket/${aws:username}/*",
    f"arn:aws:iam::{ACCT}:user/al?ce", f"arn:aws:iam::{ACCT}:role/team/*",
]
# (operator, key, candidate policy values)
CONDITIONS: list[tuple[str, str, list[Any]]] = [
    ("StringEquals", "sts:ExternalId", ["lab-1", "lab-2", "${aws:username}"]),
    ("StringNotEquals", "sts:ExternalId", ["lab-1", "${aws:PrincipalTag/team}"]),
    ("StringLike", "aws:PrincipalTag/team", ["b*", "red", "${aws:username}"]),
    ("StringNotLike", "aws:username", ["a*", "${aws:PrincipalTag/team}"]),
    ("StringEqualsIgnoreCase", "aws:PrincipalTag/team", ["BLUE", "Red"]),
    ("StringEqualsIfExists", "aws:PrincipalTag/team", ["blue"]),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["team", "owner"]),
    ("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", ["team"]),
    ("ForAllValues:StringLike", "aws:TagKeys", ["t*", "owner"]),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret"]),
    ("StringEquals", "aws:TagKeys", ["team"]),
    ("Bool", "aws:MultiFactorAuthPresent", [True, "true", "false"]),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", ["true"]),
    ("NumericLessThan", "aws:MultiFactorAuthAge", [3600, "600"]),
    ("NumericGreaterThanEqualsIfExists", "aws:MultiFactorAuthAge", [60]),
    ("Null", "aws:TokenIssueTime", ["true", "false"]),
    ("ArnLike", "aws:PrincipalArn", [f"arn:aws:iam::{ACCT}:*", "arn:aws:iam::*:role/*"]),
    ("ArnNotEquals", "aws:PrincipalArn", [USERS[0]]),
    ("StringEquals", "aws:PrincipalAccount", [ACCT, OTHER]),
    ("DateLessThan", "aws:TokenIssueTime", ["2026-01-31T12:00:00Z"]),
    ("IpAddress", "aws:SourceIp", ["127.0.0.0/8", "10.0.0.0/8"]),
]
PRINCIPALS = ["*", {"AWS": "*"}, {"AWS": ACCT}, {"AWS": f"arn:aws:iam::{OTHER}:root"},
              {"AWS": USERS[0]}, {"AWS": [USERS[1], USERS[2]]}, {"AWS": ROLES[1]},
              {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/Ops/s1"}, {"Service": "ec2.amazonaws.com"}]
CALLERS = [
    Caller(USERS[0], ACCT, user_id="AIDAALICE"),
    Caller(USERS[1], ACCT, user_id="AIDABOB"),
    Caller(USERS[2], OTHER, user_id="AIDAEVE"),
    Caller(f"arn:aws:sts::{ACCT}:assumed-role/Ops/s1", ACCT, ROLES[1], user_id="AROAOPS:s1"),
    Caller(f"arn:aws:sts::{OTHER}:assumed-role/Partner/p", OTHER, ROLES[2], user_id="AROAP:p"),
]


@dataclass
class Case:
    seed: int
    caller: Caller
    request: Request
    identity: list[tuple[str, dict]]
    resource_policy: dict | None = None
    trust: bool = False  # the resource policy is a role's trust policy
    boundary: tuple[str, dict] | None = None
    session: list[tuple[str, dict]] = field(default_factory=list)

    def decide(self, **changes: Any):
        layers: dict[str, Any] = {"identity": self.identity, "boundary": self.boundary,
                                  "session": self.session or None}
        if self.resource_policy is not None:
            layers["trust_policy" if self.trust else "resource_policy"] = self.resource_policy
        layers.update(changes)
        return authorize(self.request, self.caller, **layers)

    def describe(self) -> str:
        return json.dumps({"seed": self.seed, "caller": self.caller.arn, "action": self.request.action,
                           "resource": self.request.resource, "context": self.request.context,
                           "identity": self.identity, "resource_policy": self.resource_policy,
                           "trust": self.trust, "boundary": self.boundary, "session": self.session},
                          default=str, indent=1)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, items):
        return self.rng.choice(items)

    def some(self, items, low: int = 1, high: int = 2):
        chosen = self.rng.sample(items, self.rng.randint(low, min(high, len(items))))
        return chosen[0] if len(chosen) == 1 and self.rng.random() < 0.5 else chosen

    def condition(self) -> dict:
        block: dict[str, dict] = {}
        for _ in range(self.rng.randint(1, 2)):
            operator, key, values = self.pick(CONDITIONS)
            block.setdefault(operator, {})[key] = self.some(values)
        return block

    def statement(self, kind: str, effect: str | None = None) -> dict:
        statement: dict[str, Any] = {"Effect": effect or self.pick(["Allow", "Allow", "Deny"])}
        if self.rng.random() < 0.3:
            statement["Sid"] = f"S{self.rng.randint(0, 10**6)}"
        statement["NotAction" if self.rng.random() < 0.15 else "Action"] = self.some(ACTION_PATTERNS)
        if kind in ("trust", "resource"):
            statement["Principal"] = self.pick(PRINCIPALS)
        if kind != "trust" and (kind != "resource" or self.rng.random() < 0.5):
            element = "NotResource" if self.rng.random() < 0.15 else "Resource"
            statement[element] = self.some(RESOURCE_PATTERNS)
        if self.rng.random() < 0.4:
            statement["Condition"] = self.condition()
        return statement

    def policy(self, kind: str, effect: str | None = None) -> dict:
        """A document IAM accepts as ``kind``, already parsed (a Policy is the dict itself)."""
        statements = [self.statement(kind, effect) for _ in range(self.rng.randint(1, 3))]
        document: dict[str, Any] = {"Statement": statements}
        version = self.rng.random()
        if version < 0.85:
            document["Version"] = "2012-10-17"
        elif version < 0.93:
            document["Version"] = "2008-10-17"
        sids = [s.get("Sid") for s in document["Statement"] if s.get("Sid")]
        if len(sids) != len(set(sids)):
            for statement in document["Statement"]:
                statement.pop("Sid", None)
        return parse_policy(document, kind=kind)

    def context(self, caller: Caller) -> dict[str, Any]:
        context: dict[str, Any] = {"aws:PrincipalArn": caller.principal_arn,
                                   "aws:PrincipalAccount": caller.account,
                                   "aws:SourceIp": self.pick(["127.0.0.1", "10.1.2.3"])}
        if caller.user_name:
            context["aws:username"] = caller.user_name
        if self.rng.random() < 0.5:
            context["aws:PrincipalTag/team"] = self.pick(["blue", "red", "alice"])
        if self.rng.random() < 0.4:
            context["aws:TagKeys"] = self.rng.sample(["team", "owner", "secret"], self.rng.randint(0, 2))
        if self.rng.random() < 0.4:
            context["sts:ExternalId"] = self.pick(["lab-1", "lab-2", "alice"])
        if caller.role_arn is not None:
            context["aws:TokenIssueTime"] = self.pick(["2026-01-31T11:00:00Z", "2026-01-31T13:00:00Z"])
            context["aws:MultiFactorAuthPresent"] = self.pick([True, False])
            if context["aws:MultiFactorAuthPresent"]:
                context["aws:MultiFactorAuthAge"] = self.pick([30, 900, 7200])
        return context

    def case(self, seed: int) -> Case:
        caller = self.pick(CALLERS)
        action = self.pick(ACTIONS)
        resource = self.pick(ROLES) if action == "sts:AssumeRole" and self.rng.random() < 0.8 else self.pick(RESOURCES)
        request = Request(action, resource, self.context(caller))
        identity = [(f"id{n}", self.policy("identity")) for n in range(self.rng.randint(0, 3))]
        case = Case(seed, caller, request, identity)
        roll = self.rng.random()
        if roll < 0.45:
            case.trust = True
            case.resource_policy = self.policy("trust")
        elif roll < 0.7:
            case.resource_policy = self.policy("resource")
        if self.rng.random() < 0.3:
            case.boundary = ("boundary", self.policy("boundary"))
        if caller.role_arn is not None and self.rng.random() < 0.5:
            case.session = [(f"s{n}", self.policy("session")) for n in range(self.rng.randint(1, 2))]
        return case


@functools.lru_cache(maxsize=1)
def _generated(seed: int) -> tuple[Case, ...]:
    generator = Generator(seed)
    return tuple(generator.case(seed * 100_000 + number) for number in range(CASES))


def cases(count: int = CASES, seed: int = SEED) -> tuple[Case, ...]:
    """The same generated cases for every property (the tests never change a case)."""
    return _generated(seed)[:count]


def check(condition: bool, case: Case, what: str) -> None:
    if not condition:
        pytest.fail(f"{what}\n{case.describe()}")


def test_generated_policies_are_valid_for_their_kind():
    """The generator writes only documents IAM would accept, so the properties test decisions."""
    for case in cases(300):
        for _, document in case.identity:
            parse_policy(document, kind="identity")
        if case.resource_policy is not None:
            parse_policy(case.resource_policy, kind="trust" if case.trust else "resource")


def test_decisions_cover_every_outcome():
    """The generator is not degenerate: allows, explicit and implicit denies all occur often."""
    seen = {decision: 0 for decision in Decision}
    for case in cases(600):
        seen[case.decide().decision] += 1
    assert all(count > 30 for count in seen.values()), seen


def test_an_explicit_deny_always_wins():
    generator = Generator(SEED + 1)
    for case in cases():
        verdict = case.decide()
        denying = [m for m in verdict.matched if m.effect == "Deny"]
        check((verdict.decision is Decision.EXPLICIT_DENY) == bool(denying), case,
              "an applying Deny statement and an explicit deny must go together")
        layer = generator.pick(["identity", "boundary", "session"])
        deny_all = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"}]}
        if layer == "identity":
            changed = case.decide(identity=[*case.identity, ("deny", deny_all)])
        elif layer == "boundary":
            changed = case.decide(boundary=("deny", deny_all))
        else:
            changed = case.decide(session=[*case.session, ("deny", deny_all)])
        check(changed.decision is Decision.EXPLICIT_DENY, case, f"a Deny * in {layer} must win")
        check(changed.reason is not None and changed.reason.startswith("with an explicit deny"),
              case, "an explicit deny is reported as one")


def test_adding_an_allow_statement_never_turns_allow_into_deny():
    generator = Generator(SEED + 2)
    for case in cases():
        if not case.decide().allowed:
            continue
        layer = generator.pick(["identity", "boundary", "session", "resource"])
        if layer == "identity":
            extra = generator.policy("identity", effect="Allow")
            check(case.decide(identity=[*case.identity, ("extra", extra)]).allowed, case,
                  f"an added Allow policy in {layer} turned an Allow into a denial")
            continue
        statement = generator.statement({"resource": "trust" if case.trust else "resource"}
                                        .get(layer, layer), effect="Allow")
        if layer == "boundary" and case.boundary is not None:
            name, document = case.boundary
            grown = dict(document, Statement=[*_statements(document), statement])
            check(case.decide(boundary=(name, grown)).allowed, case, "an Allow added to the boundary")
        elif layer == "session" and case.session:
            name, document = case.session[0]
            grown = dict(document, Statement=[*_statements(document), statement])
            check(case.decide(session=[(name, grown), *case.session[1:]]).allowed, case,
                  "an Allow added to a session policy")
        elif layer == "resource" and case.resource_policy is not None:
            grown = dict(case.resource_policy, Statement=[*_statements(case.resource_policy), statement])
            key = "trust_policy" if case.trust else "resource_policy"
            check(case.decide(**{key: grown}).allowed, case, "an Allow added to the resource policy")


def test_a_session_policy_never_widens():
    generator = Generator(SEED + 3)
    for case in cases():
        if case.caller.role_arn is None:
            continue
        session = case.session or [("s", generator.policy("session"))]
        if case.decide(session=session).allowed:
            check(case.decide(session=None).allowed, case, "session policies widened the session")


def test_a_permissions_boundary_never_widens():
    generator = Generator(SEED + 4)
    for case in cases():
        boundary = case.boundary or ("b", generator.policy("boundary"))
        if case.decide(boundary=boundary).allowed:
            check(case.decide(boundary=None).allowed, case, "a permissions boundary widened access")


def test_the_decision_does_not_depend_on_statement_or_policy_order():
    generator = Generator(SEED + 5)
    for case in cases():
        before = case.decide()

        def shuffled(document: dict) -> dict:
            statements = list(_statements(document))
            generator.rng.shuffle(statements)
            return dict(document, Statement=statements)

        identity = [(name, shuffled(doc)) for name, doc in case.identity]
        generator.rng.shuffle(identity)
        changes: dict[str, Any] = {"identity": identity,
                                   "session": [(n, shuffled(d)) for n, d in reversed(case.session)] or None}
        if case.boundary is not None:
            changes["boundary"] = (case.boundary[0], shuffled(case.boundary[1]))
        if case.resource_policy is not None:
            changes["trust_policy" if case.trust else "resource_policy"] = shuffled(case.resource_policy)
        after = case.decide(**changes)
        check((after.decision, after.reason) == (before.decision, before.reason), case,
              "reordering statements or policies changed the answer")


def test_json_round_trip_decides_the_same():
    for case in cases():
        before = case.decide()
        changes: dict[str, Any] = {
            "identity": [(name, serialize(doc)) for name, doc in case.identity],
            "session": [(name, serialize(doc)) for name, doc in case.session] or None,
        }
        for _, document in case.identity:
            check(parse_policy(serialize(document)) == document, case, "parse(serialize(p)) != p")
        if case.boundary is not None:
            changes["boundary"] = (case.boundary[0], serialize(case.boundary[1]))
        if case.resource_policy is not None:
            changes["trust_policy" if case.trust else "resource_policy"] = serialize(case.resource_policy)
        after = case.decide(**changes)
        check((after.decision, after.reason) == (before.decision, before.reason), case,
              "the policies read back from JSON decided differently")


def test_identity_policies_alone_authorize_as_evaluate_does():
    for case in cases():
        verdict = authorize(case.request, case.caller, identity=case.identity)
        expected = evaluate(case.identity, case.request).decision
        if case.caller.kind == "root":
            continue
        check(verdict.decision is expected, case, "authorize and evaluate disagree")


def _statements(document: dict) -> list:
    statement = document["Statement"]
    return list(statement) if isinstance(statement, list) else [statement]
