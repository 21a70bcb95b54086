"""Stories about `logfire.instrument_redis()` against a real redis-server started by the test session."""

from __future__ import annotations

from .db_stories import db_spans, run_story

COMMANDS = """
import redis
client = redis.Redis(host='127.0.0.1', port=int(os.environ['REDIS_PORT']))
with logfire.span('request'):
    client.set('user:1', 'the-value-ada')
    client.set('session:1', 'swordfish')
    client.get('user:1')
    try:
        client.incr('user:1')
    except redis.ResponseError:
        pass
report()
"""


def test_commands_nest_under_the_current_span_without_their_values(redis_port: int) -> None:
    spans, output = run_story(
        'logfire.instrument_redis()\nlogfire.instrument_redis()  # a no-op\n' + COMMANDS, REDIS_PORT=str(redis_port)
    )
    commands = db_spans(spans)
    assert [(s.message, s.parent, s.level) for s in commands] == [
        ('SET ? ?', 'request', None),
        ('SET ? ?', 'request', None),
        ('GET ?', 'request', None),
        ('INCRBY ? ?', 'request', 17),
    ]
    assert commands[3].events == ['exception']
    assert commands[0].attributes['db.system'] == 'redis'
    assert commands[0].attributes['net.peer.port'] == redis_port
    assert 'the-value-ada' not in output and 'swordfish' not in output


def test_capture_statement_records_values_but_scrubs_a_secret_looking_command(redis_port: int) -> None:
    spans, output = run_story(
        'logfire.instrument_redis(capture_statement=True)\n' + COMMANDS, REDIS_PORT=str(redis_port)
    )
    assert [s.message for s in db_spans(spans)] == [
        "SET 'user:1' 'the-value-ada'",
        'SET ? ?',  # `session` matched: every value of the command goes
        "GET 'user:1'",
        "INCRBY 'user:1' '1'",
    ]
    assert 'swordfish' not in output


def test_async_commands_nest_across_await(redis_port: int) -> None:
    spans, _ = run_story(
        """
        import redis.asyncio
        logfire.instrument_redis()

        async def main():
            client = redis.asyncio.Redis(host='127.0.0.1', port=int(os.environ['REDIS_PORT']))
            with logfire.span('request'):
                await asyncio.sleep(0)
                await client.ping()
            await client.aclose()

        asyncio.run(main())
        report()
        """,
        REDIS_PORT=str(redis_port),
    )
    assert [(s.message, s.parent) for s in db_spans(spans)] == [('PING', 'request')]
