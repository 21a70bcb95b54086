"""Database queries: what tracing them costs.

- `psycopg_query`: `SELECT 1` on a psycopg connection traced by `logfire.instrument_psycopg(conn)`, against a
  connection traced by OpenTelemetry's own `PsycopgInstrumentor.instrument_connection`; the same throwaway
  PostgreSQL server (started here, as the tests start it), one span per query on each side, in the same kind of
  in-memory processor. Without PostgreSQL on the machine the row is pending, saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

import logfire
from tests.db_servers import postgres_server

from .harness import CheckFailed, InMemoryProcessor, Mode, Result, Side, interleave


def _check_query_spans(need_message: bool) -> Callable[[Sequence[ReadableSpan]], None]:
    def check(spans: Sequence[ReadableSpan]) -> None:
        for span in spans:
            attributes = span.attributes or {}
            if span.kind is not trace.SpanKind.CLIENT or attributes.get('db.statement') != 'SELECT 1':
                raise CheckFailed(f'span {span.name!r} is not a query span: {dict(attributes)}')
            if need_message and attributes.get('logfire.msg') != 'SELECT 1':
                raise CheckFailed(f'query span {span.name!r} lacks its message: {dict(attributes)}')

    return check


def psycopg_case(mode: Mode) -> Result:
    import psycopg
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    result = Result(
        name='psycopg_query',
        ours='SELECT 1 on a local PostgreSQL, connection traced by instrument_psycopg(conn)',
        baseline='the same, connection traced by PsycopgInstrumentor.instrument_connection',
    )
    with postgres_server() as server:
        if isinstance(server, str):
            result.status = 'pending'
            result.note = f'skipped: {server}'
            return result
        ours_processor, baseline_processor = InMemoryProcessor(), InMemoryProcessor()
        lf = logfire.configure(
            local=True, console=False, send_to_logfire=False, additional_span_processors=[ours_processor]
        )
        provider = TracerProvider()
        provider.add_span_processor(baseline_processor)
        with (
            psycopg.connect(server.dsn, autocommit=True) as ours_conn,
            psycopg.connect(server.dsn, autocommit=True) as baseline_conn,
        ):
            lf.instrument_psycopg(ours_conn)
            PsycopgInstrumentor.instrument_connection(baseline_conn, tracer_provider=provider)

            def driver(conn: psycopg.Connection[Any]) -> Callable[[int], None]:
                def queries(n: int) -> None:
                    cursor = conn.cursor()
                    for _ in range(n):
                        cursor.execute('SELECT 1')
                        cursor.fetchone()

                return queries

            try:
                ours = Side(driver(ours_conn), ours_processor, 1, _check_query_spans(True))
                baseline = Side(driver(baseline_conn), baseline_processor, 1, _check_query_spans(False))
                interleave(ours, baseline, mode, result)
            finally:
                lf.shutdown()
    return result
