"""Stories about `logfire.instrument_psycopg()` against a real PostgreSQL started by the test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import clean_env, run_python
from ..db_servers import Postgres
from ..otlp_receiver import OTLPReceiver
from .db_stories import db_spans, run_story


def test_queries_nest_under_the_current_span_with_readable_messages_and_no_parameters(postgres: Postgres) -> None:
    spans, output = run_story(
        """
        import psycopg
        logfire.instrument_psycopg()
        logfire.instrument_psycopg(psycopg)  # a no-op
        with psycopg.connect(os.environ['DSN']) as conn:
            with logfire.span('request'):
                conn.execute('CREATE TEMP TABLE users (id int, name text)')
                conn.execute('INSERT INTO users VALUES (%s, %s)', (1, 'the-parameter-value'))
                conn.execute('SELECT * FROM users WHERE id = %s', (1,)).fetchall()
        report()
        """,
        DSN=postgres.dsn,
    )
    queries = db_spans(spans)
    assert [(s.message, s.parent) for s in queries] == [
        ('CREATE TEMP TABLE users (id int, name text)', 'request'),
        ('INSERT INTO users VALUES (%s, %s)', 'request'),
        ('SELECT * FROM users WHERE id = %s', 'request'),
    ]
    attributes = queries[2].attributes
    assert attributes['db.system'] == 'postgresql'
    assert attributes['db.name'] == postgres.dbname
    assert attributes['db.statement'] == 'SELECT * FROM users WHERE id = %s'
    assert attributes['net.peer.name'] == '127.0.0.1'
    assert attributes['net.peer.port'] == postgres.port
    assert 'the-parameter-value' not in output


def test_a_failing_query_records_its_exception_at_error_level(postgres: Postgres) -> None:
    spans, _ = run_story(
        """
        import psycopg
        logfire.instrument_psycopg()
        with psycopg.connect(os.environ['DSN']) as conn:
            try:
                conn.execute('SELECT * FROM no_such_table')
            except psycopg.errors.UndefinedTable:
                pass
        report()
        """,
        DSN=postgres.dsn,
    )
    [failed] = db_spans(spans)
    assert (failed.level, failed.events) == (17, ['exception'])


def test_async_queries_nest_across_await_and_thread_pool_queries_under_the_submitter(postgres: Postgres) -> None:
    spans, _ = run_story(
        """
        import psycopg
        from concurrent.futures import ThreadPoolExecutor
        logfire.instrument_psycopg()

        async def handler():
            async with await psycopg.AsyncConnection.connect(os.environ['DSN']) as conn:
                with logfire.span('async request'):
                    await asyncio.sleep(0)
                    await conn.execute('SELECT 1')

        def in_thread():
            with psycopg.connect(os.environ['DSN']) as conn:
                conn.execute('SELECT 2')

        asyncio.run(handler())
        with logfire.span('batch'), ThreadPoolExecutor(2) as pool:
            pool.submit(in_thread).result(timeout=30)
        report()
        """,
        DSN=postgres.dsn,
    )
    assert [(s.message, s.parent) for s in db_spans(spans)] == [('SELECT 1', 'async request'), ('SELECT 2', 'batch')]


def test_one_connection_can_be_traced_alone(postgres: Postgres) -> None:
    spans, _ = run_story(
        """
        import psycopg
        traced = psycopg.connect(os.environ['DSN'])
        plain = psycopg.connect(os.environ['DSN'])
        logfire.instrument_psycopg(traced)
        logfire.instrument_psycopg(traced)  # a no-op
        traced.cursor().execute('SELECT 1')
        plain.cursor().execute('SELECT 2')
        report()
        """,
        DSN=postgres.dsn,
    )
    assert [s.message for s in db_spans(spans)] == ['SELECT 1']


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def test_no_parameter_or_literal_secret_reaches_the_wire(postgres: Postgres, receiver: OTLPReceiver) -> None:
    code = """
import os, psycopg, logfire
logfire.configure()
logfire.instrument_psycopg()
with psycopg.connect(os.environ['DSN']) as conn, logfire.span('sign up'):
    conn.execute('CREATE TEMP TABLE accounts (name text, password text)')
    conn.execute('INSERT INTO accounts VALUES (%s, %s)', ('ada', 'param-secret-hunter2'))
    conn.execute("UPDATE accounts SET password = 'literal-secret-swordfish' WHERE name = 'ada'")
logfire.shutdown()
"""
    env = clean_env(
        DSN=postgres.dsn,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_CONSOLE='false',
    )
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(4)
    messages = {s.attributes.get('logfire.msg') for s in spans}
    assert 'UPDATE accounts SET password = ? WHERE name = ?' in messages
    assert 'INSERT INTO accounts VALUES (%s, %s)' in messages
    wire = b''.join(request.body for request in receiver.requests)
    assert b'UPDATE accounts SET password' in wire  # the decoded bodies: the check below is not vacuous
    assert b'hunter2' not in wire and b'swordfish' not in wire
