"""Stories about `logfire.instrument_sqlite3()`, against the standard library's sqlite3, in process (in a fresh one)."""

from __future__ import annotations

from .db_stories import db_spans, run_story


def test_each_query_is_a_span_nested_under_the_current_span_with_its_statement_as_message() -> None:
    spans, output = run_story(
        """
        import sqlite3
        conn = logfire.instrument_sqlite3(sqlite3.connect(':memory:'))
        assert logfire.instrument_sqlite3(conn) is conn  # a traced connection is returned as it is
        with logfire.span('request'):
            cursor = conn.cursor()
            cursor.execute('CREATE TABLE users (id INTEGER, name TEXT)')
            cursor.execute('INSERT INTO users VALUES (?, ?)', (1, 'ada-the-parameter'))
            cursor.execute('SELECT   *\\n FROM users\\n WHERE id = ?', (1,))
        report()
        """
    )
    queries = db_spans(spans)
    assert [(s.message, s.parent, s.attributes['db.system']) for s in queries] == [
        ('CREATE TABLE users (id INTEGER, name TEXT)', 'request', 'sqlite'),
        ('INSERT INTO users VALUES (?, ?)', 'request', 'sqlite'),
        ('SELECT * FROM users WHERE id = ?', 'request', 'sqlite'),
    ]
    assert queries[2].attributes['db.statement'] == 'SELECT   *\n FROM users\n WHERE id = ?'
    assert 'ada-the-parameter' not in output  # parameters are never recorded


def test_a_literal_secret_in_a_statement_is_scrubbed_and_the_statement_stays_readable() -> None:
    spans, output = run_story(
        """
        import sqlite3
        conn = logfire.instrument_sqlite3(sqlite3.connect(':memory:'))
        cursor = conn.cursor()
        cursor.execute('CREATE TABLE users (id INTEGER, password TEXT)')
        cursor.execute("UPDATE users SET password = 'hunter2' WHERE id = 42")
        report()
        """
    )
    update = db_spans(spans)[1]
    assert update.message == 'UPDATE users SET password = ? WHERE id = ?'
    assert update.attributes['db.statement'] == 'UPDATE users SET password = ? WHERE id = ?'
    assert 'password' in update.attributes['logfire.scrubbed']
    assert 'hunter2' not in output


def test_a_failing_query_records_its_exception_at_error_level() -> None:
    spans, _ = run_story(
        """
        import sqlite3
        conn = logfire.instrument_sqlite3(sqlite3.connect(':memory:'))
        try:
            conn.cursor().execute('SELECT * FROM missing_table')
        except sqlite3.OperationalError:
            pass
        report()
        """
    )
    [failed] = db_spans(spans)
    assert (failed.message, failed.level, failed.events) == ('SELECT * FROM missing_table', 17, ['exception'])


def test_without_a_connection_every_new_connection_is_traced_once() -> None:
    spans, _ = run_story(
        """
        import sqlite3
        logfire.instrument_sqlite3()
        logfire.instrument_sqlite3()  # a no-op
        conn = sqlite3.connect(':memory:')
        with logfire.span('job'):
            conn.cursor().execute('SELECT 1')
        report()
        """
    )
    assert [(s.message, s.parent) for s in db_spans(spans)] == [('SELECT 1', 'job')]


def test_a_long_statement_gives_a_bounded_message() -> None:
    spans, _ = run_story(
        """
        import sqlite3
        conn = logfire.instrument_sqlite3(sqlite3.connect(':memory:'))
        conn.cursor().execute('SELECT ' + ', '.join(f'{i} AS column_{i}' for i in range(100)))
        report()
        """
    )
    [query] = db_spans(spans)
    assert len(query.message) == 200 and query.message.endswith('…')
    assert query.message.startswith('SELECT 0 AS column_0, 1 AS column_1')
