"""Durations as learners type them (`901`, `90s`, `15m`, `1h`, `1h30m`) and as they read them."""

from __future__ import annotations

import re

from labkit.errors import LabError

_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """Seconds in `text`: a whole number of seconds, or parts like `15m`, `1h30m`, `90s`."""
    if isinstance(text, int):
        if text < 0:
            raise LabError(f"A duration cannot be negative ({text}): give a positive number of seconds.")
        return text
    cleaned = str(text).strip().lower().replace(" ", "")
    if cleaned.isdigit():
        return int(cleaned)
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise LabError(
            f"'{text}' is not a duration: write seconds (901) or a number with a unit, "
            "such as 90s, 15m, 1h or 1h30m."
        )
    return sum(int(n) * _UNITS[u] for n, u in parts)


def describe_duration(seconds: int) -> str:
    """A readable duration: 900 -> '15 min', 3600 -> '1 h', 5400 -> '1 h 30 min', 43200 -> '12 h'."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)
