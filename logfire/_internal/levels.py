"""Turning the level a caller named into its number; an unknown level warns and counts as error."""

from __future__ import annotations

import warnings

from .constants import ERROR_LEVEL, LEVEL_NUMBERS


class UnknownLevelWarning(UserWarning):
    """A log call named a level that does not exist; the log was recorded at error level."""


def level_number_or_warn(level: object) -> int:
    """The number of a level name or number; an unknown level warns (at the user's call) and counts as error."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.lower() in LEVEL_NUMBERS:
        return LEVEL_NUMBERS[level.lower()]
    warnings.warn(
        f'Unknown log level {level!r}; logging at error level. Accepted: {", ".join(LEVEL_NUMBERS)}, or a number.',
        UnknownLevelWarning,
        stacklevel=4,  # this function, `_log` or `_span`, the level method, then the caller
    )
    return ERROR_LEVEL
