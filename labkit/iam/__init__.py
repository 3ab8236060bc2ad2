"""labkit.iam: the IAM policy language, on its own (no moto, no HTTP).

Parse and validate policy documents, and decide requests the way AWS documents it:

    from labkit.iam import Caller, Request, authorize, evaluate
    evaluate([("mine", policy_json)], Request("sts:AssumeRole", role_arn)).decision
    authorize(Request("sts:AssumeRole", role_arn, context), caller,
              identity=[("mine", policy_json)], trust_policy=trust_json).reason

The sandbox authorizes with it, the lab explains refusals with it, and exercise checks judge a
learner's policy with it. Modules: ``grammar`` (parsing and IAM's rules per kind of policy),
``errors`` (IAM's MalformedPolicyDocument texts), ``policy`` (a parsed document), ``variables``,
``conditions``, ``principals``, ``context`` (the request context), ``evaluation`` (policies of one
type) and ``decision`` (the whole request).
"""

from labkit.iam.context import RequestContext, overlay_tags
from labkit.iam.decision import REASONS, Verdict, authorize, validate_all
from labkit.iam.errors import IAM_MESSAGES, PolicyError
from labkit.iam.evaluation import (
    Decision,
    MatchedStatement,
    Request,
    Result,
    evaluate,
    evaluate_resource_policy,
    names_principal_exactly,
)
from labkit.iam.grammar import parse_policy, validate
from labkit.iam.policy import KINDS, Policy, Statement, serialize
from labkit.iam.principals import Caller, PrincipalMatch, principal_match, principal_matches

__all__ = [
    "IAM_MESSAGES",
    "KINDS",
    "REASONS",
    "Caller",
    "Decision",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PrincipalMatch",
    "Request",
    "RequestContext",
    "Result",
    "Statement",
    "Verdict",
    "authorize",
    "evaluate",
    "evaluate_resource_policy",
    "names_principal_exactly",
    "overlay_tags",
    "parse_policy",
    "principal_match",
    "principal_matches",
    "serialize",
    "validate",
    "validate_all",
]
