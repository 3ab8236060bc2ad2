"""Errors the lab raises for a learner: one clear sentence that says what to change."""


class LabError(Exception):
    """A problem the learner can fix; its message says how. Never shown as a traceback."""
