"""Stories about `logfire.instrument_sqlalchemy()`: over psycopg and asyncpg on a real PostgreSQL, and over sqlite."""

from __future__ import annotations

import pytest

from ..db_servers import Postgres
from .db_stories import db_spans, run_story


@pytest.mark.parametrize('driver', ['psycopg', 'asyncpg'])
def test_queries_of_an_engine_nest_under_the_current_span(postgres: Postgres, driver: str) -> None:
    spans, output = run_story(
        """
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        url = os.environ['DSN'].replace('postgresql://', 'postgresql+DRIVER://')

        async def main():
            engine = create_async_engine(url)
            logfire.instrument_sqlalchemy(engine)
            logfire.instrument_sqlalchemy(engines=[engine])  # traced already: a no-op
            async with engine.connect() as conn:
                with logfire.span('request'):
                    await asyncio.sleep(0)
                    await conn.execute(text('SELECT :value AS answer'), {'value': 'the-parameter-value'})
                    await conn.execute(text("SELECT 'hunter2' AS password"))
                    try:
                        await conn.execute(text('SELECT * FROM no_such_table'))
                    except Exception:
                        pass
            await engine.dispose()

        asyncio.run(main())
        report()
        """.replace('DRIVER', driver),
        DSN=postgres.dsn,
    )
    queries = [s for s in db_spans(spans) if s.parent == 'request']
    placeholder = '$1' if driver == 'asyncpg' else '%(value)s'
    assert [(s.message, s.level) for s in queries] == [
        (f'SELECT {placeholder} AS answer', None),
        ('SELECT ? AS password', None),
        ('SELECT * FROM no_such_table', 17),  # SQLAlchemy's instrumentation keeps the error in the span's status
    ]
    attributes = queries[0].attributes
    assert (attributes['db.system'], attributes['db.name']) == ('postgresql', postgres.dbname)
    assert 'the-parameter-value' not in output and 'hunter2' not in output


def test_without_an_engine_every_new_engine_is_traced() -> None:
    spans, _ = run_story(
        """
        logfire.instrument_sqlalchemy()
        logfire.instrument_sqlalchemy()  # a no-op
        from sqlalchemy import create_engine, text
        engine = create_engine('sqlite://')
        with engine.connect() as conn, logfire.span('job'):
            conn.execute(text('SELECT 1'))
        report()
        """
    )
    queries = [s for s in db_spans(spans) if s.name != 'connect']
    assert [(s.message, s.parent, s.attributes['db.system']) for s in queries] == [('SELECT 1', 'job', 'sqlite')]
