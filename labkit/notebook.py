"""Small helpers the lesson notebooks call, so that each cell stays one line of one idea.

Everything here prints plain text (nbval compares it) and never prints a secret in full.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from labkit import policies
from labkit.errors import LabError
from labkit.lab import IAM_WAIT
from labkit.outcomes import Outcome


def show(items: Iterable[Any]) -> None:
    """One line per item (setup or cleanup steps, limits, ...); says so when there is none."""
    lines = [str(item) for item in items]
    print("\n".join(lines) if lines else "(nothing)")


def policy_table(document: dict) -> str:
    """Each field of a policy document, its value and what it means, as a text table."""
    rows = [("Field", "Value", "Meaning")] + policies.explain(document)
    width = [max(len(r[i]) for r in rows) for i in (0, 1)]
    return "\n".join(f"{f:<{width[0]}}  {v:<{width[1]}}  {m}".rstrip() for f, v, m in rows)


def show_policy(document: dict) -> None:
    """The document as JSON (as you would paste it into the console), then the field table."""
    print(policies.to_json(document))
    print()
    print(policy_table(document))


def show_error(call: Callable[[], Any]) -> None:
    """Run `call` and print how it was refused: the lab's own check (LabError) or AWS's answer."""
    try:
        call()
    except LabError as exc:
        print(f"LabError: {exc}")
        return
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(Outcome(exc.operation_name, False, code=error.get("Code"), message=error.get("Message")))
        return
    print("No error: the call was accepted.")


# --- lessons that change IAM and expect a refusal -------------------------------------------------


def until(call: Callable[[], Outcome], ok: bool, timeout: float = IAM_WAIT, delay: float = 2.0) -> Outcome:
    """Repeat `call` until its outcome is allowed (ok=True) or refused (ok=False), or `timeout`.

    IAM changes reach STS after a few seconds on AWS, so a change the lesson just made may not
    show yet; the sandbox applies them at once, so there the first call decides. The last
    outcome is returned as it is, whatever it is.
    """
    deadline = time.monotonic() + timeout
    outcome = call()
    while outcome.ok != ok and time.monotonic() + delay < deadline:
        time.sleep(delay)
        outcome = call()
    return outcome


def refused_by(outcome: Outcome) -> str:
    """Which of AssumeRole's two checks refused it, read from AWS's own message."""
    if outcome.ok:
        return "Neither check refused it: the call was allowed."
    message = outcome.message or ""
    if outcome.code != "AccessDenied":
        return f"Not a permission check: {outcome.code} is about the request itself."
    if "identity-based policy" in message:
        return ("The IDENTITY check refused it: the caller's own (identity-based) policy does not allow "
                "sts:AssumeRole on this role. Fix the user's policy.")
    if "resource-based policy" in message:
        return "The TRUST check refused it: the role's trust policy explicitly denies the caller."
    return ("The TRUST check refused it (the message stops after the role ARN): the role's trust "
            "policy does not name the caller, or the role does not exist. Fix the trust policy.")



def lab_files() -> str:
    """`AWS_CONFIG_FILE=... AWS_SHARED_CREDENTIALS_FILE=...` for `!aws` lines: the lab's own files,
    where its profiles live (the sandbox's kernel already uses them; a real account's would not)."""
    from labkit import workspace

    return f"AWS_CONFIG_FILE={workspace.config_file()} AWS_SHARED_CREDENTIALS_FILE={workspace.credentials_file()}"
