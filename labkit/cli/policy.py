"""`labkit policy`: check a policy document, or decide a request, with labkit.iam (no AWS call).

labkit policy check trust.json --kind trust          # what IAM would say on CreateRole, and why
labkit policy evaluate --caller arn:aws:iam::123456789012:user/alice \\
    --action sts:AssumeRole --resource arn:aws:iam::123456789012:role/lab \\
    --identity user-policy.json --trust trust.json [--context '{"sts:ExternalId": "x"}'] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.errors import LabError

if TYPE_CHECKING:
    from labkit import iam

# labkit.iam's KINDS, written out so that building the `labkit` parser imports no policy engine
# (every labkit command builds it); tests/test_cli_policy.py checks they agree.
KINDS = ("identity", "resource", "trust", "session", "boundary")

_SESSION_ARN = re.compile(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
_ARN_ACCOUNT = re.compile(r"^arn:[\w-]+:(?:iam|sts)::(\d{12}):")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser(
        "policy",
        help="check a policy document, or decide a request, as IAM would (offline)",
        description="Check a policy document, or decide a request, with the lab's policy engine.",
    )
    policy.set_defaults(func=lambda args: policy.print_help() or 2)
    commands = policy.add_subparsers(dest="policy_command", metavar="{check,evaluate}")

    check = commands.add_parser("check", help="would IAM accept this document? (exit 1 if not)",
                                description="Say whether IAM would accept a policy document.")
    check.add_argument("file", help="the policy document (JSON), or - for standard input")
    check.add_argument("--kind", choices=KINDS, default="identity",
                       help="what the document is (default: identity)")
    check.set_defaults(func=_check)

    evaluate = commands.add_parser(
        "evaluate", help="is this request allowed? (exit 0 if allowed, 1 if denied)",
        description="Decide one request as AWS would, from policy documents in files.")
    evaluate.add_argument("--caller", required=True, metavar="ARN",
                          help="who asks: a user, role session (assumed-role) or root ARN")
    evaluate.add_argument("--role-arn", metavar="ARN",
                          help="a role session's role ARN, when the role has a path")
    evaluate.add_argument("--action", required=True, help="e.g. sts:AssumeRole")
    evaluate.add_argument("--resource", default="*", help="the resource ARN (default: *)")
    evaluate.add_argument("--identity", action="append", default=[], metavar="FILE",
                          help="an identity-based policy of the caller (repeatable)")
    attached = evaluate.add_mutually_exclusive_group()
    attached.add_argument("--trust", metavar="FILE", help="the role's trust policy (AssumeRole)")
    attached.add_argument("--resource-policy", metavar="FILE", help="the resource's policy")
    evaluate.add_argument("--boundary", metavar="FILE", help="the caller's permissions boundary")
    evaluate.add_argument("--session", action="append", default=[], metavar="FILE",
                          help="a session policy of a role session (repeatable)")
    evaluate.add_argument("--context", default="{}", metavar="JSON",
                          help='more condition keys, e.g. \'{"sts:ExternalId": "x"}\' (or @FILE); '
                          "the caller's own (aws:PrincipalArn, aws:username, ...) are filled in")
    evaluate.add_argument("--json", action="store_true", help="print the verdict as JSON")
    evaluate.set_defaults(func=_evaluate)


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check(args: argparse.Namespace) -> int:
    from labkit import iam

    error = iam.validate(_read(args.file), args.kind)
    if error is None:
        print(f"OK: IAM accepts this {args.kind} policy.")
        return 0
    print(f"Not valid: {error}")
    print(f"IAM answers: MalformedPolicyDocument: {error.iam_message}")
    return 1


def caller_from_arn(arn: str, role_arn: str | None = None) -> iam.Caller:
    """A Caller from its ARN: a user, root, or a role session (whose role ARN is derived)."""
    from labkit import iam

    session = _SESSION_ARN.match(arn)
    if session:
        partition, account, role = session.group(1), session.group(2), session.group(3)
        return iam.Caller(arn, account, role_arn or f"arn:{partition}:iam::{account}:role/{role}")
    account = _ARN_ACCOUNT.match(arn)
    if account is None:
        raise LabError(f"--caller {arn} is not a user, root or assumed-role ARN, e.g. "
                       "arn:aws:iam::123456789012:user/alice")
    return iam.Caller(arn, account.group(1))


def _context(raw: str) -> dict[str, Any]:
    text = _read(raw[1:]) if raw.startswith("@") else raw
    try:
        context = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"--context is not valid JSON ({exc.msg}): write e.g. "
                       "'{\"sts:ExternalId\": \"x\"}'") from None
    if not isinstance(context, dict):
        raise LabError("--context must be a JSON object of condition keys")
    return context


def request_context(caller: iam.Caller, given: dict[str, Any]) -> dict[str, Any]:
    """The caller's own keys (aws:PrincipalArn, aws:PrincipalAccount, aws:username, ...), then
    the keys given on the command line, which win."""
    from labkit import iam

    return {**iam.RequestContext(caller=caller).keys(), **given}


def _evaluate(args: argparse.Namespace) -> int:
    from labkit import iam

    caller = caller_from_arn(args.caller, args.role_arn)
    request = iam.Request(args.action, args.resource, request_context(caller, _context(args.context)))
    layers: dict[str, Any] = {
        "identity": [(path, _read(path)) for path in args.identity],
        "session": [(path, _read(path)) for path in args.session] or None,
        "boundary": (args.boundary, _read(args.boundary)) if args.boundary else None,
    }
    if args.trust:
        layers.update(trust_policy=_read(args.trust), resource_policy_name=args.trust)
    elif args.resource_policy:
        layers.update(resource_policy=_read(args.resource_policy),
                      resource_policy_name=args.resource_policy)
    try:
        verdict = iam.authorize(request, caller, **layers)
    except iam.PolicyError as error:
        raise LabError(str(error)) from None
    if args.json:
        print(json.dumps(verdict_json(verdict)))
    elif verdict.allowed:
        print(f"Allowed: {caller.arn} may perform {args.action} on {args.resource}")
    else:
        print(f"Denied: {verdict.message(caller.arn)}")
    for statement in verdict.matched if not args.json else ():
        sid = f' (Sid "{statement.sid}")' if statement.sid else ""
        print(f"  {statement.effect}: {statement.policy_type} policy {statement.policy}, "
              f"statement {statement.index}{sid}")
    return 0 if verdict.allowed else 1


def verdict_json(verdict: iam.Verdict) -> dict[str, Any]:
    return {
        "decision": verdict.decision.value,
        "reason": verdict.reason,
        "matched": [{"policy_type": m.policy_type, "policy": m.policy, "sid": m.sid,
                     "statement": m.index, "effect": m.effect} for m in verdict.matched],
    }
