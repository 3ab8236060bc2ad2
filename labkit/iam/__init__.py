"""labkit.iam: the IAM policy language, on its own (no moto, no HTTP).

Parse and validate policy documents, and decide requests the way AWS documents it:

    from labkit.iam import Request, evaluate
    evaluate([("mine", policy_json)], Request("sts:AssumeRole", role_arn)).decision

The sandbox authorizes with it, the lab explains refusals with it, and exercise checks judge a
learner's policy with it.
"""

from labkit.iam.conditions import PolicyError
from labkit.iam.evaluation import (
    Caller,
    Decision,
    Request,
    Result,
    evaluate,
    evaluate_resource_policy,
    names_principal_exactly,
    parse_policy,
    principal_matches,
)

__all__ = [
    "Caller",
    "Decision",
    "PolicyError",
    "Request",
    "Result",
    "evaluate",
    "evaluate_resource_policy",
    "names_principal_exactly",
    "parse_policy",
    "principal_matches",
]
