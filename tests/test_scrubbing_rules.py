"""Scrubbing stories, one rule at a time: what is redacted, what is kept byte for byte, and what is reported.

`test_scrubbing.py` tells the main stories; these pin the details a user relies on: the pattern each marker
names, the path the callback and `logfire.scrubbed` give, values that look alike but are not the same, and the
message, which must not show what the attributes hide.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import contextmanager
from enum import Enum
from typing import Any, Literal

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire import ScrubbingOptions, ScrubMatch
from logfire._internal.scrub_patterns import marker
from logfire.testing import TestExporter, TestLogExporter

SECRET = 'hunter2-s3cr3t'
TOKEN = 'pylf_v1_us_0123456789abcdefghij'


@contextmanager
def configured(
    scrubbing: ScrubbingOptions | Literal[False] | None = None, *readers: SpanProcessor
) -> Generator[tuple[logfire.Logfire, TestExporter, TestLogExporter]]:
    """A pipeline capturing spans and log records in memory, with these scrubbing options (after `readers`)."""
    exporter = TestExporter()
    log_exporter = TestLogExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        additional_span_processors=[*readers, SimpleSpanProcessor(exporter)],
        advanced=logfire.AdvancedOptions(log_record_processors=[SimpleLogRecordProcessor(log_exporter)]),
        scrubbing=scrubbing,
    )
    try:
        yield lf, exporter, log_exporter
    finally:
        lf.shutdown()


def attributes_of(exporter: TestExporter) -> list[dict[str, Any]]:
    return [dict(span.attributes or {}) for span in exporter.exported_spans]


def notes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(attributes['logfire.scrubbed'])


def start_and_end(lf: logfire.Logfire, attributes: dict[str, Any]) -> None:
    lf.config.tracer_provider.get_tracer('t').start_span('GET', attributes=attributes).end()


class _ReadsOnStart(SpanProcessor):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.seen.append(dict(span.attributes or {}))


def test_extra_patterns_redact_attribute_values_in_any_case_naming_the_pattern() -> None:
    with configured(ScrubbingOptions(extra_patterns=['acct-\\d+', 'ref-[a-z]+'])) as (lf, exporter, _):
        lf.info('x', a='acct-12345', b='ACCT-999', c='see REF-abc', d='fine')
    [attributes] = attributes_of(exporter)
    assert attributes['a'] == attributes['b'] == marker('acct-\\d+')
    assert attributes['c'] == marker('ref-[a-z]+')
    assert attributes['d'] == 'fine'
    assert [note['path'][-1] for note in notes(attributes)] == ['a', 'b', 'c']


def test_default_patterns_match_in_any_case_and_in_non_ascii_spellings() -> None:
    every_word = 'pass pwd secret auth credential private api session cookie srf jwt ssn social credit signing hmac '
    every_word += 'token pylf_v'  # every word the fast path looks for first
    with configured() as (lf, exporter, _):
        lf.info('x', shouted='My PASSWORD is x', long_s='my pa\u017f\u017fword is x', words=every_word, ok='fine')
    [attributes] = attributes_of(exporter)
    assert attributes['shouted'] == attributes['long_s'] == marker('password')
    assert attributes['words'] == marker('secret')
    assert attributes['ok'] == 'fine'


def test_credential_headers_are_redacted_when_recorded_as_one_string_or_named_with_dots() -> None:
    with configured() as (lf, exporter, _):
        start_and_end(lf, {'http.request.header.authorization': f'Bearer {SECRET}'})
        start_and_end(lf, {'http.request.header.session.id': ('abc',), 'http.request.header.x.trace': ('fine',)})
    one_string, dotted = attributes_of(exporter)
    assert one_string['http.request.header.authorization'] == (marker('authorization'),)
    assert notes(one_string) == [
        {'path': ['attributes', 'http.request.header.authorization'], 'matched_substring': 'authorization'}
    ]
    assert dotted['http.request.header.session.id'] == (marker('session'),)
    assert dotted['http.request.header.x.trace'] == ('fine',)
    assert notes(dotted) == [{'path': ['attributes', 'http.request.header.session.id'], 'matched_substring': 'session'}]


def test_logfire_scrubbed_names_the_path_and_the_reason_of_every_redaction() -> None:
    statement = f"UPDATE users SET password = '{SECRET}' WHERE id = 42"
    with configured() as (lf, exporter, _):
        lf.info('x', user={'name': 'bob', 'password': SECRET, 'notes': ['fine', f'my secret is {SECRET}']})
        start_and_end(
            lf,
            {
                'url.query': f'q=shoes&api_key={SECRET}',
                'db.statement': statement,
                'http.request.header.x_note': ('fine', f'my password is {SECRET}'),
                'tags': ('fine', f'my jwt is {SECRET}'),
            },
        )
    logged, span = attributes_of(exporter)
    assert json.loads(logged['user']) == {
        'name': 'bob',
        'password': marker('password'),
        'notes': ['fine', marker('secret')],
    }
    assert notes(logged) == [
        {'path': ['attributes', 'user', 'password'], 'matched_substring': 'password'},
        {'path': ['attributes', 'user', 'notes', 1], 'matched_substring': 'secret'},
    ]
    assert span['url.query'] == f'q=shoes&api_key={marker("api_key")}'
    assert span['db.statement'] == 'UPDATE users SET password = ? WHERE id = ?'
    assert span['http.request.header.x_note'] == ('fine', marker('password'))
    assert span['tags'] == ('fine', marker('jwt'))
    assert notes(span) == [
        {'path': ['attributes', 'url.query', 'api_key'], 'matched_substring': 'api_key'},
        {'path': ['attributes', 'db.statement'], 'matched_substring': 'password'},
        {'path': ['attributes', 'http.request.header.x_note'], 'matched_substring': 'password'},
        {'path': ['attributes', 'tags'], 'matched_substring': 'jwt'},
    ]
    assert SECRET not in json.dumps([logged, span])


def test_the_callback_is_told_where_each_match_sits_what_it_holds_and_what_matched() -> None:
    seen: set[tuple[Any, ...]] = set()

    def callback(match: ScrubMatch) -> Any:
        seen.add((match.path, match.value, match.pattern_match.group(0)))
        return None

    statement = f"UPDATE users SET password = '{SECRET}' WHERE id = 42"
    with configured(ScrubbingOptions(callback=callback)) as (lf, _, log_exporter):
        lf.info('login {password}', password=SECRET, user={'password': SECRET, 'notes': [f'my secret is {SECRET}']})
        start_and_end(
            lf,
            {
                'http.request.header.x_session_id': (SECRET,),
                'url.query': f'q=shoes&api_key={SECRET}',
                'db.statement': statement,
            },
        )
        logger = lf.config.logger_provider.get_logger('lib')
        logger.emit(
            body={'note': f'my cookie is {SECRET}', 'password': SECRET}, attributes={'request': {'api_key': SECRET}}
        )
        logger.emit(body=f'the session is {SECRET}')
        logger.emit(body=42)
        record, text, number = log_exporter.exported_logs_as_dicts()
    assert seen == {
        (('attributes', 'password'), SECRET, 'password'),
        (('attributes', 'user', 'password'), SECRET, 'password'),
        (('attributes', 'user', 'notes', 0), f'my secret is {SECRET}', 'secret'),
        (('attributes', 'http.request.header.x_session_id'), (SECRET,), 'session'),
        (('attributes', 'url.query', 'api_key'), SECRET, 'api_key'),
        (('attributes', 'db.statement'), statement, 'password'),
        # Scrubbed when the span started, the statement still names a password when it ends.
        (('attributes', 'db.statement'), 'UPDATE users SET password = ? WHERE id = ?', 'password'),
        (('log_body', 'note'), f'my cookie is {SECRET}', 'cookie'),
        (('log_body', 'password'), SECRET, 'password'),
        (('log_body',), f'the session is {SECRET}', 'session'),
        (('attributes', 'request', 'api_key'), SECRET, 'api_key'),
    }
    assert record['body'] == {'note': marker('cookie'), 'password': marker('password')}
    assert (text['body'], number['body']) == (marker('session'), 42)
    assert record['attributes']['request'] == {'api_key': marker('api_key')}
    assert json.loads(record['attributes']['logfire.scrubbed']) == [
        {'path': ['attributes', 'request', 'api_key'], 'matched_substring': 'api_key'},
        {'path': ['log_body', 'note'], 'matched_substring': 'cookie'},
        {'path': ['log_body', 'password'], 'matched_substring': 'password'},
    ]


def test_a_query_parameter_holding_a_logfire_token_is_named_not_copied_into_the_marker() -> None:
    with configured() as (lf, exporter, _):
        start_and_end(lf, {'url.query': f'q={TOKEN}&page=2'})
    [attributes] = attributes_of(exporter)
    assert attributes['url.query'] == f'q={marker("logfire token")}&page=2'
    assert notes(attributes) == [{'path': ['attributes', 'url.query', 'q'], 'matched_substring': 'logfire token'}]


def test_a_url_parameter_with_a_slash_in_its_name_beside_an_earlier_marker_stays_encoded() -> None:
    with configured() as (lf, exporter, _):
        start_and_end(lf, {'url.full': f'http://h/?a%2Fkey={marker("api_key")}&password={SECRET}'})
    [attributes] = attributes_of(exporter)
    assert attributes['url.full'] == f'http://h/?a%2Fkey={marker("api_key")}&password={marker("password")}'


def test_clean_values_beside_a_secret_are_exported_exactly_as_they_were() -> None:
    clean = {
        'http.target': 8080,  # not a string: left alone
        'url.query': 'debug&session',  # bare flags hold no values, so nothing to hide
        'payload': '{"a": 1, "b": [true, null]}',
        'note': 'fine',
    }
    with configured() as (lf, exporter, _):
        start_and_end(lf, {**clean, 'api_key': SECRET})
    [attributes] = attributes_of(exporter)
    assert {key: attributes[key] for key in clean} == clean
    assert attributes['api_key'] == marker('api_key')


def test_a_callback_may_replace_a_secret_looking_value_with_a_number() -> None:
    with configured(ScrubbingOptions(callback=lambda match: 42)) as (lf, exporter, _):
        lf.info('x', note=f'my password is {SECRET}')
    [attributes] = attributes_of(exporter)
    assert attributes['note'] == '42'


def test_a_callback_that_keeps_a_statement_leaves_it_exactly_as_it_was() -> None:
    statement = "UPDATE users SET password = 'x' WHERE id = 42"
    with configured(ScrubbingOptions(callback=lambda match: match.value)) as (lf, exporter, _):
        start_and_end(lf, {'db.statement': statement, 'db.query.text': 'SELECT password FROM users'})
    [attributes] = attributes_of(exporter)
    assert attributes['db.statement'] == statement
    assert attributes['db.query.text'] == 'SELECT password FROM users'
    assert 'logfire.scrubbed' not in attributes


def test_what_was_scrubbed_when_a_span_started_stays_listed_beside_what_was_scrubbed_at_its_end() -> None:
    with configured(None, _ReadsOnStart()) as (lf, exporter, _):  # read at start, so scrubbed at start
        with lf.span('login {user}', user='ada', api_key=SECRET) as span:
            span.set_attribute('password', SECRET)
    [attributes] = attributes_of(exporter)
    assert [note['path'] for note in notes(attributes)] == [['attributes', 'api_key'], ['attributes', 'password']]


def test_a_list_of_strings_is_scrubbed_when_it_is_the_only_attribute() -> None:
    with configured() as (lf, exporter, _):
        start_and_end(lf, {'notes': ('fine', f'my password is {SECRET}')})
    [attributes] = attributes_of(exporter)
    assert attributes['notes'] == ('fine', marker('password'))


def test_the_message_hides_a_secret_whatever_the_other_arguments_and_earlier_messages() -> None:
    with configured() as (lf, exporter, _):
        lf.info('hello {user}', user='bob')  # `user` and 'bob' are now known to be clean
        lf.info('login {password}', user='bob', password=SECRET)  # an argument the template does not use
        lf.info('{user} {note}', user='bob', note=f'my password is {SECRET}')
        lf.info('{user} wrote {note}', user='bob', note=f'my secret is {SECRET}')  # `note` is known now
        lf.info('{user}', user={'password': SECRET})  # a known key, now with a dict holding a secret
        lf.info('{user}', user=[f'my token is {TOKEN}'])
    messages = [attributes['logfire.msg'] for attributes in attributes_of(exporter)]
    assert messages == [
        'hello bob',
        f'login {marker("password")}',
        f'bob {marker("password")}',
        f'bob wrote {marker("secret")}',
        marker('password'),
        marker('logfire token'),
    ]


class _Status(int, Enum):
    SESSION_EXPIRED = 440


def test_numbers_in_a_message_are_shown_as_they_are_even_an_enum_named_like_a_secret() -> None:
    with configured() as (lf, exporter, _):
        lf.info('status {status} after {n} tries', status=_Status.SESSION_EXPIRED, n=3)
    [attributes] = attributes_of(exporter)
    assert attributes['logfire.msg'] == f'status {_Status.SESSION_EXPIRED} after 3 tries'


class _Ref(str):
    """A string whose equality ignores its `#fragment`, as some reference types do."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str.split(self, '#')[0] == str.split(other, '#')[0]

    def __hash__(self) -> int:
        return hash(str.split(self, '#')[0])


def test_strings_that_compare_equal_but_read_differently_are_each_checked() -> None:
    with configured(ScrubbingOptions(extra_patterns=['^\\d{16}$'])) as (lf, exporter, _):
        lf.info('{ref}', ref='page')  # 'page' is known to be clean
        lf.info('{ref}', ref=_Ref('page#1'))
        lf.info('{ref}', ref=_Ref(f'page#password={SECRET}'))
        start_and_end(lf, {'ref': _Ref('page#2')})
        start_and_end(lf, {'ref': _Ref(f'page#password={SECRET}')})
        start_and_end(lf, {'card': _Ref('4111111111111111#gift')})
        start_and_end(lf, {'card': '4111111111111111'})
    exported = attributes_of(exporter)
    assert [attributes['logfire.msg'] for attributes in exported[:3]] == ['page', 'page#1', marker('password')]
    assert [attributes.get('ref') or attributes.get('card') for attributes in exported[3:]] == [
        'page#2',
        marker('password'),
        '4111111111111111#gift',
        marker('^\\d{16}$'),
    ]


class _CallbackBug(Exception):
    pass


def test_when_the_callback_fails_at_the_end_no_event_link_or_status_text_is_sent_and_it_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.trace import Link, SpanContext, Status, StatusCode

    def broken(match: ScrubMatch) -> Any:
        raise _CallbackBug('bug in the callback')

    with configured(ScrubbingOptions(callback=broken)) as (lf, exporter, _):
        linked = SpanContext(trace_id=1, span_id=2, is_remote=True)
        tracer = lf.config.tracer_provider.get_tracer('t')
        span = tracer.start_span('login', links=[Link(linked, {'note': f'my password is {SECRET}'})])
        span.add_event('attempt', {'note': f'my password is {SECRET}'})
        span.set_status(Status(StatusCode.ERROR, f'failed with {SECRET}'))
        span.set_attribute('password', SECRET)
        span.end()
    [exported] = exporter.exported_spans
    assert dict(exported.attributes or {})['password'] == marker('an error while scrubbing')
    assert (tuple(exported.events), tuple(exported.links)) == ((), ())
    assert (exported.status.status_code, exported.status.description) == (StatusCode.ERROR, None)
    [report] = [r.getMessage() for r in caplog.records if '_CallbackBug' in r.getMessage()]
    assert report.startswith('Internal error in logfire (scrubbing)') and 'bug in the callback' in report


class _StartBug(Exception):
    pass


def test_when_the_callback_fails_at_the_start_logfires_own_attributes_stay_readable_and_it_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(match: ScrubMatch) -> Any:
        raise _StartBug('bug at the start')

    reader = _ReadsOnStart()
    with configured(ScrubbingOptions(callback=broken), reader) as (lf, _, _):
        with lf.span('login {user}', user='ada', api_key=SECRET):
            pass
    [at_start] = reader.seen
    assert at_start['api_key'] == marker('an error while scrubbing')
    assert at_start['logfire.msg_template'] == 'login {user}'
    [report] = [r.getMessage() for r in caplog.records if '_StartBug' in r.getMessage()]
    assert report.startswith('Internal error in logfire (scrubbing)') and 'bug at the start' in report


def test_a_client_url_holding_a_secret_is_scrubbed_before_its_message_is_made() -> None:
    from opentelemetry.trace import SpanKind

    with configured() as (lf, exporter, _):
        url = f'http://h/login?password={SECRET}'
        lf.config.tracer_provider.get_tracer('client').start_span(
            'GET', kind=SpanKind.CLIENT, attributes={'http.request.method': 'GET', 'url.full': url}
        ).end()
    [attributes] = attributes_of(exporter)
    assert SECRET not in json.dumps(attributes)
    assert attributes['url.full'] == f'http://h/login?password={marker("password")}'


def test_with_scrubbing_off_credential_headers_are_still_redacted_in_events_and_links() -> None:
    from opentelemetry.trace import Link, SpanContext

    recorded = {'http.request.header.authorization': (f'Bearer {SECRET}',), 'password': 'kept'}
    with configured(False) as (lf, exporter, _):
        linked = SpanContext(trace_id=1, span_id=2, is_remote=True)
        span = lf.config.tracer_provider.get_tracer('t').start_span('x', links=[Link(linked, recorded)])
        span.add_event('request', recorded)
        span.end()
    [exported] = exporter.exported_spans
    for attributes in (exported.events[0].attributes, exported.links[0].attributes):
        assert dict(attributes or {})['http.request.header.authorization'] == (marker('authorization'),)
        assert dict(attributes or {})['password'] == 'kept'


class _LogCallbackBug(Exception):
    pass


def test_when_the_callback_fails_on_a_log_record_its_body_and_unsafe_attributes_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(match: ScrubMatch) -> Any:
        raise _LogCallbackBug('bug in the callback')

    with configured(ScrubbingOptions(callback=broken)) as (lf, _, log_exporter):
        logger = lf.config.logger_provider.get_logger('lib')
        logger.emit(body=f'my password is {SECRET}', attributes={'password': SECRET, 'http.method': 'GET'})
        logger.emit(attributes={'api_key': SECRET})
        with_body, without_body = log_exporter.exported_logs_as_dicts()
    failed = marker('an error while scrubbing')
    assert with_body['body'] == failed
    assert with_body['attributes'] == {'password': failed, 'http.method': 'GET'}
    assert (without_body['body'], without_body['attributes']) == (None, {'api_key': failed})
    [report] = [r.getMessage() for r in caplog.records if '_LogCallbackBug' in r.getMessage()]
    assert report.startswith('Internal error in logfire (scrubbing)')
