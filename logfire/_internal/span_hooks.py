"""What the root processor does to every span before the rest of the chain sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .db_spans import set_db_message
from .http_spans import set_http_level, set_http_message

if TYPE_CHECKING:
    from .config import LogfireConfig
    from .exporters.processors import EndTransform, StartHook


def start_hooks(config: LogfireConfig) -> list[StartHook]:
    """Hooks run on every started span, in order.

    `set_http_message` gives HTTP server spans a `logfire.msg` such as `GET /path ? q='1'`, before the
    console prints the span's start line. Other spans cost it a dict lookup or two.

    They run after the start scrub, which skips spans no child processor reads at start unless their URL
    attributes hold a query (see `Scrubber.scrub_started_span`): a hook that derives attributes from others must
    only read ones that scrubbing changes no further than that.
    """
    return [set_http_message]


def end_transforms(config: LogfireConfig) -> list[EndTransform]:
    """Transforms applied to every ended span, in order.

    `set_http_level` levels HTTP spans from their final status code (5xx error, 4xx warn).
    """
    return [set_http_level]


def after_scrub_transforms(config: LogfireConfig) -> list[EndTransform]:
    """Transforms applied to every ended span after the scrubber, in order: they derive values from scrubbed ones.

    `set_db_message` gives a database span its statement as `logfire.msg` (which scrubbing never looks at, so it is
    made from the scrubbed statement) and a failed query level error.
    """
    return [set_db_message]
