"""sqlite3: OpenTelemetry's sqlite3 instrumentation, recording a client span per query into logfire's providers.

Either every connection opened after the call (`sqlite3.connect` is patched), or one connection, which is returned
wrapped. `db_spans` gives each span its statement as message; parameters are never recorded.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, TypeVar

from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['instrument']

ConnectionT = TypeVar('ConnectionT', bound='sqlite3.Connection | None')


def instrument(providers: SharedProviders, conn: ConnectionT, /) -> ConnectionT:
    """Trace every new sqlite3 connection (`conn` None), or return `conn` traced; a second call does nothing."""
    if conn is None:
        instrumentor = SQLite3Instrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=providers.tracer_provider)
        return conn
    if hasattr(conn, '__wrapped__'):
        return conn  # already a traced connection (a proxy of one): wrapping it again would nest a second span
    return SQLite3Instrumentor.instrument_connection(conn, tracer_provider=providers.tracer_provider)
