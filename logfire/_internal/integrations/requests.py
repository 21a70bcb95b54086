"""requests: OpenTelemetry's requests instrumentation, recording client spans into logfire's shared providers.

It patches `requests.Session.send` for the whole process, so each request is a client span that injects
`traceparent` into the outgoing headers; `http_spans` gives it its message and level, and scrubbing cleans
its URL. Instrumenting twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import Span
from requests import PreparedRequest, Response
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['RequestsOptions', 'instrument']


class RequestsOptions(TypedDict, total=False):
    """Keyword arguments passed on to OpenTelemetry's `RequestsInstrumentor` (see `Logfire.instrument_requests`)."""

    request_hook: Callable[[Span, PreparedRequest], None] | None
    response_hook: Callable[[Span, PreparedRequest, Response], None] | None
    duration_histogram_boundaries: list[float] | None


def instrument(
    providers: SharedProviders, /, *, excluded_urls: str | None = None, **options: Unpack[RequestsOptions]
) -> None:
    """Trace every request made with `requests`; a second call does nothing."""
    instrumentor = RequestsInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return
    instrumentor.instrument(
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
        excluded_urls=excluded_urls,
        **options,
    )
