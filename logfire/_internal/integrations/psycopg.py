"""psycopg (3): OpenTelemetry's psycopg instrumentation, recording a client span per query into logfire's providers.

Either every connection opened after the call (`psycopg.connect` and `[Async]Connection.connect` are patched), or
one connection, instrumented in place. `db_spans` gives each span its statement as message; parameters are
recorded only with `capture_parameters=True`.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import psycopg
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['PsycopgOptions', 'instrument']


class PsycopgOptions(TypedDict, total=False):
    """Keyword arguments passed on to OpenTelemetry's `PsycopgInstrumentor` (see `Logfire.instrument_psycopg`)."""

    enable_commenter: bool
    commenter_options: dict[str, Any]
    capture_parameters: bool


def instrument(
    providers: SharedProviders,
    conn_or_module: ModuleType | psycopg.Connection[Any] | psycopg.AsyncConnection[Any] | None,
    /,
    **options: Unpack[PsycopgOptions],
) -> None:
    """Trace every new psycopg connection, or only `conn_or_module`; a second call for the same target does nothing."""
    if conn_or_module is None or isinstance(conn_or_module, ModuleType):
        if conn_or_module is not None and conn_or_module is not psycopg:
            raise TypeError(
                f'logfire.instrument_psycopg() instruments psycopg (3), not {conn_or_module.__name__}: '
                'pass the psycopg module, a psycopg connection, or nothing'
            )
        instrumentor = PsycopgInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=providers.tracer_provider, **options)
        return
    if getattr(conn_or_module, _INSTRUMENTED, False):
        return
    if options.get('capture_parameters'):
        raise TypeError('capture_parameters is only supported when instrumenting every connection (no argument)')
    PsycopgInstrumentor.instrument_connection(
        conn_or_module,  # pyright: ignore[reportArgumentType]  (either kind of connection, one at a time)
        tracer_provider=providers.tracer_provider,
        enable_commenter=options.get('enable_commenter', False),
        commenter_options=options.get('commenter_options'),
    )


_INSTRUMENTED = '_is_instrumented_by_opentelemetry'
"""The flag `instrument_connection` sets on a connection it has instrumented."""
