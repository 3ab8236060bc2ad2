"""What every exercise shares: the verdict a check gives, and the Exercise itself.

    ex = exercise("trust-policy")
    ex.check(trust_policy)      # prints and returns a Verdict: ✓ Correct. / ✗ Not yet: ...
    ex.hint()                   # one hint (the next one on each call)
    ex.solution()               # the solution, as the code a learner would write
    ex.use(trust_policy)        # the learner's answer if it passes, else the lab's solution

A family module (policies, calls, exports, console, predict) subclasses Exercise and writes
`judge`: it raises Mistake (what is wrong, where, what to change) or Unusable (the answer cannot
be read at all), and returns the warnings of a correct but risky answer. A check never raises
for a learner's mistake and never shows a full secret: every value the judge registers as
secret is masked in whatever the verdict says.
"""

from __future__ import annotations

import html
import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from labkit.credentials import mask
from labkit.errors import LabError
from labkit.exercises.registry import entry

CORRECT, NOT_YET = "✓", "✗"


class Mistake(Exception):
    """What is wrong with an answer: which element, what is wrong, what to change."""


class Unusable(Mistake):
    """The answer cannot be read at all (not JSON where JSON is needed, no answer, ...)."""


@dataclass
class Verdict:
    """A check's result: `.passed`, and the words for the learner (plain text and HTML)."""

    exercise: str
    passed: bool
    problem: str = ""  # why not yet (empty when passed)
    warnings: list[str] = field(default_factory=list)
    usable: bool = True  # False: the answer could not be read (`labkit check` exits 2)
    _shown: bool = field(default=False, repr=False, compare=False)

    @property
    def exit_code(self) -> int:
        """What `labkit check` exits with: 0 correct, 1 not yet, 2 unusable input."""
        return 0 if self.passed else (1 if self.usable else 2)

    def lines(self) -> list[str]:
        if self.passed and not self.warnings:
            return [f"{CORRECT} Correct."]
        if self.passed:
            first, *rest = self.warnings
            return [f"{CORRECT} Correct, but: {first}", *(f"  Also: {w}" for w in rest)]
        return [f"{NOT_YET} Not yet: {self.problem}"]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    __repr__ = __str__

    def __bool__(self) -> bool:
        return self.passed

    def _repr_html_(self) -> str:
        colour = ("#9a6700" if self.warnings else "#1a7f37") if self.passed else "#cf222e"
        lines = [html.escape(line) for line in self.lines()]
        return (f"<div style='border-left:4px solid {colour};padding:2px 10px;white-space:pre-wrap'>"
                f"<b style='color:{colour}'>{lines[0]}</b>"
                + "".join(f"<br>{line}" for line in lines[1:]) + "</div>")

    def _repr_mimebundle_(self, **kwargs) -> dict[str, str]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}

    def _ipython_display_(self) -> None:
        """Shown once: check() displays it, so the cell's Out[] does not show it a second time."""
        if self._shown:
            self._shown = False
            return
        from IPython.display import publish_display_data

        publish_display_data(self._repr_mimebundle_())

    def show(self) -> None:
        """Print it (a terminal) or display it as HTML and text (a notebook)."""
        shell = _ipython()
        if shell is None:
            print(self)
            return
        from IPython.display import publish_display_data

        publish_display_data(self._repr_mimebundle_())
        self._shown = True  # the cell's result display, if this verdict is its value, is skipped

        def forget(*_args) -> None:  # ... but a later `verdict` on its own line shows it again
            self._shown = False
            shell.events.unregister("post_run_cell", forget)

        shell.events.register("post_run_cell", forget)


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


# --- reading answers ---------------------------------------------------------------------------


def where(path: Iterable[Any]) -> str:
    """A place in a document, in a learner's words: Statement 1's Principal "AWS", "RoleArn"."""
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "Statement" and isinstance(parts[1], int):
        rest = parts[2:]
        head = f"Statement {parts[1] + 1}"
        if not rest:
            return head
        return f"{head}'s {rest[0]}" + "".join(f' "{p}"' if isinstance(p, str) else f" [{p}]" for p in rest[1:])
    if parts[:1] == ["Statement"] and len(parts) > 1:
        return "Statement's " + " ".join(str(p) for p in parts[1:])
    if not parts:
        return "The answer"
    return " ".join(f'"{p}"' if isinstance(p, str) else f"[{p}]" for p in parts)


def find_blank(value: Any, path: tuple = ()) -> tuple | None:
    """The path to the first `...` (a blank of the exercise skeleton) in `value`, or None."""
    if value is Ellipsis:
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = find_blank(item, (*path, key))
        if found is not None:
            return found
    return None


def refuse_blanks(value: Any, what: str) -> None:
    """No answer yet (None or `...`), or a skeleton with a blank left: say where."""
    if value is None or value is Ellipsis:
        raise Unusable(f"there is no answer yet: replace the ... with {what}.")
    blank = find_blank(value)
    if blank is not None:
        raise Unusable(f"{where(blank)} is still ... (a blank): fill it in (ex.hint() if you are stuck).")


_JSON_TYPES = (str, int, float, bool, type(None))


def _not_json(value: Any, path: tuple = ()) -> tuple[tuple, Any] | None:
    """The first value JSON cannot hold (a set, a tuple key, an object), with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (*path, repr(key)), key
            found = _not_json(item, (*path, key))
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _not_json(item, (*path, index))
            if found:
                return found
        return None
    return None if isinstance(value, _JSON_TYPES) else (path, value)


def load_json(answer: Any, what: str, example: str) -> Any:
    """JSON text or a Python value made of dicts, lists, strings and numbers, as plain JSON data."""
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", errors="replace")
    if isinstance(answer, str):
        if not answer.strip():
            raise Unusable(f"the {what} is empty: write it as JSON, e.g. {example}.")
        try:
            return json.loads(answer)
        except json.JSONDecodeError as exc:
            raise Unusable(f"the {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                           f"{exc.colno}. Look for a missing comma, quote or bracket just before that "
                           "point.") from None
    refuse_blanks(answer, f"the {what}")
    bad = _not_json(answer)
    if bad is not None:
        path, value = bad
        kind = type(value).__name__
        fix = (" (curly braces around strings make a set: use square brackets for a list)"
               if isinstance(value, set | frozenset) else "")
        raise Mistake(f"{where(path)} is a Python {kind} ({_short(value)}), which JSON cannot hold{fix}: "
                      "use only dicts, lists, strings and numbers.")
    return json.loads(json.dumps(answer))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(value: Any) -> str:
    """A value as it appears in JSON: "sts:AssumeRole", ["a", "b"], {"AWS": "..."}."""
    return json.dumps(value)


def aws_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")


# --- the exercise ------------------------------------------------------------------------------


class Exercise:
    """One "your turn": check, hint, solution, use. Families subclass it (see the module doc)."""

    id: ClassVar[str]  # notebook, title and description are in the registry's table
    variable: ClassVar[str]  # the name the exercise cell assigns, e.g. trust_policy
    needs: ClassVar[tuple[str, ...]] = ()  # names the solution code reads from earlier cells
    hints: ClassVar[tuple[str, ...]]
    solution_template: ClassVar[str]

    def __init__(self, lab=None) -> None:
        self._lab = lab
        self._hint = 0
        self._secrets: set[str] = set()

    def __repr__(self) -> str:
        return f"<exercise {self.id!r} (notebook {self.notebook}): {self.title}>"

    @property
    def notebook(self) -> str:
        return entry(self.id).notebook

    @property
    def title(self) -> str:
        return entry(self.id).title

    @property
    def description(self) -> str:
        return entry(self.id).description

    # --- what the lab knows ---------------------------------------------------------------------

    @property
    def lab(self):
        """The lab (names, target), connected on first use: the sandbox or a real account."""
        if self._lab is None:
            from labkit.lab import Lab
            from labkit.target import connect

            self._lab = Lab(connect())
        return self._lab

    def secret(self, *values: str | None) -> None:
        """Values the verdict must never show in full (they are masked wherever they appear)."""
        self._secrets.update(v for v in values if isinstance(v, str) and len(v) >= 4)

    def _scrub(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, mask(value))
        return text

    # --- the four things a learner calls ----------------------------------------------------------

    def judge(self, answer: Any, *args: Any) -> list[str]:
        """Raise Mistake/Unusable for a wrong answer; return the warnings of a correct one."""
        raise NotImplementedError

    def verdict(self, answer: Any, *args: Any) -> Verdict:
        """The check's result, without printing it or recording progress."""
        self._secrets = set()
        try:
            warnings = self.judge(answer, *args)
        except Unusable as exc:
            return Verdict(self.id, False, self._scrub(str(exc)), usable=False)
        except Mistake as exc:
            return Verdict(self.id, False, self._scrub(str(exc)))
        except LabError as exc:
            return Verdict(self.id, False, self._scrub(f"the lab cannot check this now: {exc}"), usable=False)
        except ClientError as exc:
            return Verdict(self.id, False, self._scrub(f"the lab cannot check this now: AWS answered "
                                                       f"{aws_error(exc)}"), usable=False)
        except BotoCoreError as exc:
            return Verdict(self.id, False, self._scrub(f"the lab cannot check this now: {exc}"), usable=False)
        except Exception as exc:  # a defect in a check must not become a learner's traceback
            return Verdict(self.id, False, self._scrub(f"the lab could not check this answer ({type(exc).__name__}: "
                                                       f"{exc}); please report it, with your answer."), usable=False)
        return Verdict(self.id, True, warnings=[self._scrub(w) for w in warnings[:3]])

    def check(self, answer: Any = None, *args: Any) -> Verdict:
        """Print (or display) and return the verdict; a correct answer is recorded as passed."""
        result = self.verdict(answer, *args)
        self.remember(result)
        result.show()
        return result

    def remember(self, result: Verdict) -> None:
        """Record a passed check in the learner's progress (a failure to save is said, not raised)."""
        if not result.passed:
            return
        from labkit.exercises import progress

        try:
            progress.record(self.id)
        except (OSError, LabError) as exc:
            result.warnings.append(f"your progress could not be saved ({exc}).")

    def hint(self) -> None:
        """Print one hint; each call gives the next one."""
        number = self._hint % len(self.hints)
        self._hint += 1
        label = f"Hint {number + 1} of {len(self.hints)}" if len(self.hints) > 1 else "Hint"
        print(f"{label}: {self.hints[number]}")

    def solution_code(self) -> str:
        """The solution as the Python a learner would write in the exercise cell."""
        return textwrap.dedent(self.solution_template).strip()

    def solution(self) -> None:
        """Print the solution code."""
        print(self.solution_code())

    def solution_value(self) -> Any:
        """What the solution code evaluates to, in this lab."""
        raise NotImplementedError

    def use(self, answer: Any = None, *args: Any) -> Any:
        """The learner's answer when it passes the check, otherwise the lab's solution value."""
        result = self.verdict(answer, *args)
        if result.passed:
            self.remember(result)
            print(f"Using your {self.variable}: it passes the check.")
            return answer
        value = self.solution_value()
        print(f"Using the lab's solution for {self.variable}: yours is not right yet "
              f"(ex.check({self.variable}) says why).")
        return value
