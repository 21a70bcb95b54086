"""asyncpg: OpenTelemetry's asyncpg instrumentation, recording a client span per query into logfire's providers.

It patches asyncpg's connection, cursor and prepared statement methods for the whole process. `db_spans` gives
each span its statement as message; arguments are recorded only with `capture_parameters=True`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # pyright: ignore[reportMissingTypeStubs]
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['AsyncPGOptions', 'instrument']


class AsyncPGOptions(TypedDict, total=False):
    """Keyword arguments of `Logfire.instrument_asyncpg`."""

    capture_parameters: bool


def instrument(providers: SharedProviders, /, **options: Unpack[AsyncPGOptions]) -> None:
    """Trace every asyncpg query; a second call does nothing."""
    existing = getattr(AsyncPGInstrumentor, '_instance', None)
    if isinstance(existing, AsyncPGInstrumentor) and existing.is_instrumented_by_opentelemetry:
        return  # constructing it again would change the running instrumentation's options (it is a singleton)
    AsyncPGInstrumentor(capture_parameters=options.get('capture_parameters', False)).instrument(
        tracer_provider=providers.tracer_provider
    )
