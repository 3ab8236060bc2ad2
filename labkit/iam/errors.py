"""What IAM says when it refuses a policy document, and what the lab tells a learner instead.

IAM answers a malformed document with ``400 MalformedPolicyDocument`` and a terse message
(``Policy statement must contain resources.``). The lab shows its own plain-words message that
says what to change. :class:`PolicyError` carries both: ``str(error)`` is the lab's message,
``error.iam_message`` is IAM's text, which the sandbox sends back as AWS would.

IAM's texts live in one table, :data:`IAM_MESSAGES`, so they are easy to correct. Each row says
where its wording comes from; rows marked ``confirmed=False`` could not be checked against a real
IAM answer (moto's validator, whose wording often follows IAM's, is the source then).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IAM_MESSAGES", "IamMessage", "PolicyError", "iam_message"]


@dataclass(frozen=True)
class IamMessage:
    text: str  # may hold {placeholders} filled by iam_message()
    confirmed: bool  # seen in a real IAM answer (a source is named in the comment of its row)


IAM_MESSAGES: dict[str, IamMessage] = {
    # JSON that does not parse, a document that is not an object, an element IAM does not know, an
    # element of the wrong type: "Syntax errors in policy." (boto/boto3#180 quotes it).
    "syntax": IamMessage("Syntax errors in policy.", True),
    # "Version" other than 2012-10-17 / 2008-10-17 (moto's wording).
    "version": IamMessage("The policy failed legacy parsing", False),
    # Policy statement without Action/NotAction (aws/aws-cdk#7615 quotes it).
    "no_action": IamMessage("Policy statement must contain actions.", True),
    # Identity policy statement without Resource/NotResource (terraform-aws-iam#603 quotes it).
    "no_resource": IamMessage("Policy statement must contain resources.", True),
    # An action with no "service:" prefix (moto's wording).
    "action_prefix": IamMessage(
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", False
    ),
    # An action with more than one colon (moto's wording).
    "action_colons": IamMessage("Actions/Condition can contain only one colon.", False),
    # A Resource that is neither "*" nor an ARN (cattle-ops/terraform-aws-gitlab-runner#1257).
    "resource_format": IamMessage('Resource {value} must be in ARN format or "*".', True),
    # Two statements with the same Sid (moto's wording).
    "duplicate_sid": IamMessage("Statement IDs (SID) in a single policy must be unique.", False),
    # Principal in an identity-based policy (hashicorp/terraform#13449; aws-fidelity.md).
    "principal_in_identity": IamMessage("Policy document should not specify a principal.", True),
    # Resource in a role trust policy (aws-fidelity.md; localstack#6644 quotes moto's
    # "Has prohibited field Resource." with a full stop).
    "resource_in_trust": IamMessage("Has prohibited field Resource", True),
    # NotResource in a role trust policy (by analogy with Resource).
    "not_resource_in_trust": IamMessage("Has prohibited field NotResource", False),
    # NotPrincipal in a role trust policy (reference_policies_elements_notprincipal.html says IAM
    # refuses it; the exact text is not documented).
    "not_principal_in_trust": IamMessage("Has prohibited field NotPrincipal", False),
    # Resource-based or trust statement without Principal (terraform-aws-iam#47 quotes it).
    "no_principal": IamMessage(
        "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
        "The passed in policy has a statement with no principals!",
        True,
    ),
    # A Principal value IAM cannot read (aws-actions/configure-aws-credentials#332 shows the form).
    "principal_format": IamMessage('Invalid principal in policy: "{key}":"{value}"', True),
    # A Principal that is neither "*" nor an object (wording not confirmed).
    "principal_value": IamMessage("Invalid principal in policy: {value}", False),
    # A condition operator IAM does not know (wording not confirmed).
    "condition_operator": IamMessage("Invalid Condition type : {value}", False),
    # A condition value of the wrong type for its operator (wording not confirmed).
    "condition_value": IamMessage("Syntax errors in policy.", False),
}


def iam_message(problem: str, **values: str) -> str:
    """IAM's MalformedPolicyDocument text for ``problem`` (a key of :data:`IAM_MESSAGES`)."""
    return IAM_MESSAGES[problem].text.format(**values)


class PolicyError(ValueError):
    """A policy document IAM would refuse.

    ``str(error)`` says, in plain words, what to change (what learners see); ``iam_message`` is
    the ``MalformedPolicyDocument`` message IAM gives for it (what the sandbox answers);
    ``problem`` names the row of :data:`IAM_MESSAGES`.
    """

    code = "MalformedPolicyDocument"

    def __init__(self, message: str, *, problem: str = "syntax", iam: str | None = None,
                 **values: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.iam_message = iam if iam is not None else iam_message(problem, **values)

    def relabel(self, prefix: str) -> PolicyError:
        """The same error, its lab message prefixed (e.g. with the policy's name)."""
        return PolicyError(f"{prefix}{self}", problem=self.problem, iam=self.iam_message)
