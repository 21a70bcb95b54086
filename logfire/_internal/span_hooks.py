"""What the root processor does to every span before the rest of the chain sees it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import Span
from opentelemetry.util.types import AttributeValue

from .constants import ATTRIBUTES_MESSAGE_KEY, ATTRIBUTES_SPAN_TYPE_KEY
from .db_spans import DB_SYSTEM_KEYS, set_db_message
from .http_spans import set_http_level, set_http_message
from .span_storage import set_start_attributes

if TYPE_CHECKING:
    from .config import LogfireConfig
    from .exporters.processors import EndTransform, StartHook


def start_hooks(config: LogfireConfig) -> list[StartHook]:
    """Hooks run on every started span, in order.

    `set_http_message` gives HTTP server spans a `logfire.msg` such as `GET /path ? q='1'`, before the
    console prints the span's start line. Other spans cost it a dict lookup or two. `set_default_message` comes
    last: spans from plain OpenTelemetry tracers that no hook gave a message get their name.

    They run after the start scrub, which skips spans no child processor reads at start unless their URL
    attributes hold a query (see `Scrubber.scrub_started_span`): a hook that derives attributes from others must
    only read ones that scrubbing changes no further than that.
    """
    return [set_http_message, set_default_message]


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


def set_default_message(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """Start hook: give a span from a plain OpenTelemetry tracer its name as `logfire.msg`, and type `span`.

    So the backend lists it by name, as it lists logfire's own spans by message. Spans with a message (all of
    logfire's own, HTTP spans) cost one dict lookup. Database spans are left to `set_db_message`, which makes
    their message from the statement when they end (replacing this default when `db.system` came after the start).
    A name changed after the start is not followed.
    """
    if ATTRIBUTES_MESSAGE_KEY in attributes:
        return
    if any(key in attributes for key in DB_SYSTEM_KEYS):
        return
    added: dict[str, AttributeValue] = {ATTRIBUTES_MESSAGE_KEY: span.name}
    if ATTRIBUTES_SPAN_TYPE_KEY not in attributes:
        added[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
    set_start_attributes(span, added)
