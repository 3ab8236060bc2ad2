"""What IAM refuses, per kind of policy, with IAM's text and the lab's (labkit.iam.grammar, errors).

Each row is a document with one mistake, the kind it is saved as, the row of IAM_MESSAGES it
hits, IAM's text and a phrase of the lab's message. Sources for the texts: labkit/iam/errors.py.
"""

from __future__ import annotations

import json

import pytest

from labkit.iam import IAM_MESSAGES, KINDS, PolicyError, parse_policy, validate

ACCT = "111122223333"
ROLE = f"arn:aws:iam::{ACCT}:role/lab"


def doc(*statements: dict, version: str | None = "2012-10-17") -> dict:
    document: dict = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    return document


def allow(**extra) -> dict:
    return {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE, **extra}


def trusting(**extra) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole", **extra}


ROWS = [
    # (document, kind, problem, IAM's text, a phrase of the lab's message)
    ('{"Version": "2012-10-17", "Statement": [', "identity", "syntax", "Syntax errors in policy.",
     "not valid JSON"),
    (doc(allow(Actions="*")), "identity", "syntax", "Syntax errors in policy.", 'Did you mean "Action"'),
    (doc(allow(), version="2012-10-18"), "identity", "version", "The policy failed legacy parsing",
     'use "2012-10-17"'),
    (doc({"Effect": "Allow", "Resource": "*"}), "identity", "no_action",
     "Policy statement must contain actions.", "has no Action"),
    (doc({"Effect": "Allow", "Action": [], "Resource": "*"}), "identity", "no_action",
     "Policy statement must contain actions.", "has no Action"),
    (doc({"Effect": "Deny", "Action": "*"}), "identity", "no_resource",
     "Policy statement must contain resources.", "has no Resource"),
    (doc({"Effect": "Allow", "Action": "*"}), "session", "no_resource",
     "Policy statement must contain resources.", "has no Resource"),
    (doc(allow(Action="AssumeRole")), "identity", "action_prefix",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "service:ActionName"),
    (doc(allow(Action="sts:Assume:Role")), "identity", "action_colons",
     "Actions/Condition can contain only one colon.", "more than one colon"),
    (doc(allow(Resource="role/lab")), "identity", "resource_format",
     'Resource role/lab must be in ARN format or "*".', "write an ARN"),
    (doc(allow(Sid="A"), allow(Sid="A")), "identity", "duplicate_sid",
     "Statement IDs (SID) in a single policy must be unique.", 'Two statements have Sid "A"'),
    (doc(allow(Principal={"AWS": ACCT})), "identity", "principal_in_identity",
     "Policy document should not specify a principal.", "remove Principal"),
    (doc(allow(NotPrincipal={"AWS": ACCT})), "boundary", "principal_in_identity",
     "Policy document should not specify a principal.", "permissions boundaries"),
    (doc(trusting(Resource="*")), "trust", "resource_in_trust", "Has prohibited field Resource",
     "remove Resource"),
    (doc(trusting(NotResource="*")), "trust", "not_resource_in_trust",
     "Has prohibited field NotResource", "remove NotResource"),
    (doc({"Effect": "Deny", "NotPrincipal": {"AWS": ACCT}, "Action": "sts:AssumeRole"}), "trust",
     "not_principal_in_trust", "Has prohibited field NotPrincipal", "NotPrincipal"),
    (doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust", "no_principal",
     IAM_MESSAGES["no_principal"].text, "has no Principal"),
    (doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), "resource", "no_principal",
     IAM_MESSAGES["no_principal"].text, "has no Principal"),
    (doc(trusting(Principal={"AWS": "alice"})), "trust", "principal_format",
     'Invalid principal in policy: "AWS":"alice"', "not an account ID"),
    (doc(trusting(Principal=f"arn:aws:iam::{ACCT}:root")), "trust", "principal_value",
     f'Invalid principal in policy: "arn:aws:iam::{ACCT}:root"', 'must be "*" or an object'),
    (doc(allow(Condition={"StringEqualz": {"k": "v"}})), "identity", "condition_operator",
     "Invalid Condition type : StringEqualz", 'Did you mean "StringEquals"'),
    (doc(allow(Condition={"NumericLessThan": {"k": "ten"}})), "identity", "condition_value",
     "Syntax errors in policy.", "is not a number"),
]


@pytest.mark.parametrize(("document", "kind", "problem", "iam_text", "lab_phrase"), ROWS)
def test_iam_refuses_with_its_text_and_the_lab_says_what_to_change(document, kind, problem, iam_text, lab_phrase):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, kind=kind)
    error = raised.value
    assert (error.problem, error.iam_message) == (problem, iam_text)
    assert lab_phrase in str(error)
    assert validate(text, kind).iam_message == iam_text  # validate() returns the same error


def test_every_row_of_the_table_is_reached():
    assert {row[2] for row in ROWS} == set(IAM_MESSAGES)


def test_each_kind_accepts_its_own_valid_document():
    identity = doc(allow(), {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:iam::*:*"})
    for kind in ("identity", "session", "boundary"):
        assert validate(identity, kind) is None
    assert validate(doc(trusting(), {"Effect": "Allow", "Principal": "*", "Action": "sts:TagSession"}),
                    "trust") is None
    bucket = doc({"Effect": "Allow", "NotPrincipal": {"AWS": ACCT}, "Action": "s3:GetObject",
                  "Resource": "arn:aws:s3:::b/*"})
    assert validate(bucket, "resource") is None
    assert validate(bucket, "trust") is not None and validate(bucket, "identity") is not None


def test_a_parsed_policy_is_the_document_itself():
    document = doc(allow(Sid="A"))
    parsed = parse_policy(json.dumps(document))
    assert parsed == document and isinstance(parsed, dict)
    assert json.loads(json.dumps(parsed)) == document
    assert [s.sid for s in parsed.statements] == ["A"] and parsed.kind == "identity"
    assert parse_policy(parsed) is parsed  # already checked as this kind


def test_parsing_is_cached_per_text_and_kind():
    text = json.dumps(doc(trusting()))
    assert parse_policy(text, kind="trust") is parse_policy(text, kind="trust")
    assert parse_policy(text, kind="resource") is not parse_policy(text, kind="trust")


def test_an_error_names_the_policy_it_came_from():
    from labkit.iam import Request, evaluate

    with pytest.raises(PolicyError) as raised:
        evaluate([("ok", doc(allow())), ("broken", doc(allow(Principal="*")))], Request("sts:AssumeRole", ROLE))
    assert str(raised.value).startswith('Policy "broken": Statement 1 has Principal')
    assert raised.value.iam_message == "Policy document should not specify a principal."


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="kind must be one of"):
        parse_policy(doc(allow()), kind="bucket")  # type: ignore[arg-type]
    assert set(KINDS) == {"identity", "resource", "trust", "session", "boundary"}
