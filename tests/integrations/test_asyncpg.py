"""Stories about `logfire.instrument_asyncpg()` against a real PostgreSQL started by the test session."""

from __future__ import annotations

from ..db_servers import Postgres
from .db_stories import db_spans, run_story


def test_queries_nest_across_await_without_their_arguments(postgres: Postgres) -> None:
    spans, output = run_story(
        """
        import asyncpg
        logfire.instrument_asyncpg()
        logfire.instrument_asyncpg()  # a no-op

        async def main():
            conn = await asyncpg.connect(os.environ['DSN'])
            try:
                with logfire.span('request'):
                    await asyncio.sleep(0)
                    await conn.execute('CREATE TEMP TABLE users (id int, name text)')
                    await conn.execute('INSERT INTO users VALUES ($1, $2)', 1, 'the-argument-value')
                    await conn.fetch('SELECT * FROM users WHERE id = $1', 1)
                    try:
                        await conn.fetch('SELECT * FROM no_such_table')
                    except asyncpg.UndefinedTableError:
                        pass
            finally:
                await conn.close()

        asyncio.run(main())
        report()
        """,
        DSN=postgres.dsn,
    )
    queries = db_spans(spans)
    assert [(s.message, s.parent, s.level) for s in queries] == [
        ('CREATE TEMP TABLE users (id int, name text)', 'request', None),
        ('INSERT INTO users VALUES ($1, $2)', 'request', None),
        ('SELECT * FROM users WHERE id = $1', 'request', None),
        ('SELECT * FROM no_such_table', 'request', 17),
    ]
    assert queries[3].events == ['exception']
    attributes = queries[2].attributes
    assert (attributes['db.system'], attributes['db.name']) == ('postgresql', postgres.dbname)
    assert attributes['net.peer.name'] == '127.0.0.1'
    assert 'the-argument-value' not in output
    assert 'db.statement.parameters' not in attributes


def test_a_literal_secret_is_scrubbed(postgres: Postgres) -> None:
    spans, output = run_story(
        """
        import asyncpg
        logfire.instrument_asyncpg()

        async def main():
            conn = await asyncpg.connect(os.environ['DSN'])
            await conn.fetch("SELECT 'swordfish' AS api_key")
            await conn.close()

        asyncio.run(main())
        report()
        """,
        DSN=postgres.dsn,
    )
    [query] = db_spans(spans)
    assert query.message == 'SELECT ? AS api_key'
    assert 'swordfish' not in output
