"""Exercises: the learner writes the policy, the call, the export lines; labkit checks them.

    from labkit.exercises import exercise
    ex = exercise("trust-policy")
    ex.check(trust_policy)     # ✓ Correct. / ✓ Correct, but: <risk> / ✗ Not yet: <what to change>
    ex.hint(); ex.solution()
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(ex.use(trust_policy)))

    from labkit.exercises import catch_up, checklist
    catch_up("03")             # the target as notebook 03 expects it at its start
    checklist()                # which exercises passed, and when

One module per family: policies (user-policy, trust-policy), calls (assume-role), exports
(exports, session), predict (predict-ec2), console (switch-role-url). `labkit check`,
`labkit progress` and `labkit catch-up` are the same on the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from labkit.exercises.registry import CLI_IDS, EXERCISES, IDS, exercise

_LAZY = {  # imported on first use, so `labkit --help` and `labkit check --list` stay light
    "Exercise": "base",
    "Verdict": "base",
    "catch_up": "catchup",
    "checklist": "progress",
    "solve_notebook": "notebooks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"labkit.exercises.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'labkit.exercises' has no attribute {name!r}")


__all__ = ["CLI_IDS", "EXERCISES", "IDS", "Exercise", "Verdict", "catch_up", "checklist", "exercise",
           "solve_notebook"]
