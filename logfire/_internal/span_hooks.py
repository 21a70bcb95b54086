"""What the root processor does to every span before the rest of the chain sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import LogfireConfig
    from .exporters.processors import EndTransform, StartHook


def start_hooks(config: LogfireConfig) -> list[StartHook]:
    """Hooks run on every started span, in order."""
    return []


def end_transforms(config: LogfireConfig) -> list[EndTransform]:
    """Transforms applied to every ended span, in order."""
    return []
