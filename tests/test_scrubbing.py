"""Scrubbing stories: secrets never leave the process, and harmless data is left alone."""

from __future__ import annotations

import io
import json
import textwrap
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire import ScrubbingOptions, ScrubMatch
from logfire._internal.scrub_patterns import marker
from logfire.testing import CaptureLogfire, TestExporter

from .conftest import clean_env, run_python

SECRET = 'hunter2-s3cr3t'


def last_attributes(capfire: CaptureLogfire) -> dict[str, Any]:
    return capfire.exporter.exported_spans_as_dict()[-1]['attributes']


def assert_no_secret(capfire: CaptureLogfire, secret: str = SECRET) -> None:
    assert secret not in json.dumps(capfire.exporter.exported_spans_as_dict(), default=str)


@pytest.mark.parametrize(
    'key',
    [
        'password',
        'user_password',
        'PASSWORD',
        'passwd',
        'mysql_pwd',
        'passphrase',
        'client_secret',
        'auth',
        'authorization',
        'auth_header',
        'credentials',
        'private_key',
        'private-key',
        'api_key',
        'apikey',
        'API-Key',
        'session',
        'sessionid',
        'cookie',
        'csrf_token',
        'xsrf',
        'jwt',
        'ssn',
        'social_security_number',
        'credit_card',
        'signing_key',
        'hmac-key',
        'access_token',
        'refresh_token',
        'bearer_token',
        'id_token',
        'logfire_token',
    ],
)
def test_secret_keys_have_their_values_redacted(capfire: CaptureLogfire, key: str) -> None:
    values: dict[str, Any] = {key: SECRET}
    logfire.info('event', **values)
    attributes = last_attributes(capfire)
    assert isinstance(attributes[key], str) and attributes[key].startswith("[Scrubbed due to '")
    scrubbed = json.loads(attributes['logfire.scrubbed'])
    assert scrubbed[0]['path'] == ['attributes', key]
    assert_no_secret(capfire)


@pytest.mark.parametrize(
    ('key', 'value'),
    [
        ('author', 'Jane Austen'),
        ('authors', 'Jane Austen'),
        ('authority', 'example.com'),
        ('author_name', 'Jane'),
        ('username', 'bob'),
        ('description', 'an ordinary sentence'),
        ('count', 3),
        ('path', '/users/42'),
    ],
)
def test_harmless_keys_and_values_are_kept(capfire: CaptureLogfire, key: str, value: Any) -> None:
    logfire.info('event', **{key: value})
    attributes = last_attributes(capfire)
    assert attributes[key] == value
    assert 'logfire.scrubbed' not in attributes


def test_code_filepath_with_a_secret_word_is_not_scanned(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer_provider().get_tracer('t')
    tracer.start_span('x', attributes={'code.filepath': 'auth/views.py', 'http.route': '/auth/{session}'}).end()
    attributes = last_attributes(capfire)
    assert attributes['code.filepath'] == 'views.py'  # stripped by the test kit, not scrubbed
    assert attributes['http.route'] == '/auth/{session}'


@pytest.mark.parametrize(
    ('value', 'label'),
    [
        (f'my password is {SECRET}', 'password'),
        (f'Bearer-ish cookie={SECRET}', 'cookie'),
        ('pylf_v1_us_0123456789abcdefghij', 'logfire token'),
    ],
)
def test_secret_looking_values_are_redacted_whole_naming_the_pattern_not_the_text(
    capfire: CaptureLogfire, value: str, label: str
) -> None:
    logfire.info('event', note=value)
    attributes = last_attributes(capfire)
    assert attributes['note'] == f"[Scrubbed due to '{label}']"
    scrubbed = json.loads(attributes['logfire.scrubbed'])
    assert scrubbed == [{'path': ['attributes', 'note'], 'matched_substring': label}]
    assert_no_secret(capfire, value)


def test_nested_structures_are_scrubbed_key_by_key(capfire: CaptureLogfire) -> None:
    logfire.info(
        'login',
        user={'name': 'bob', 'password': SECRET, 'tokens': [{'access_token': SECRET, 'kind': 'x'}]},
        items=['ok', f'password {SECRET}'],
    )
    attributes = last_attributes(capfire)
    user = json.loads(attributes['user'])
    assert user['name'] == 'bob'
    assert user['password'] == "[Scrubbed due to 'password']"
    assert user['tokens'][0] == {'access_token': "[Scrubbed due to 'access_token']", 'kind': 'x'}
    assert json.loads(attributes['items']) == ['ok', "[Scrubbed due to 'password']"]
    paths = [entry['path'] for entry in json.loads(attributes['logfire.scrubbed'])]
    assert ['attributes', 'user', 'password'] in paths
    assert ['attributes', 'user', 'tokens', 0, 'access_token'] in paths
    assert_no_secret(capfire)


def test_json_string_values_are_scrubbed_structurally(capfire: CaptureLogfire) -> None:
    logfire.info('raw', body=json.dumps({'password': SECRET, 'id': 1}))
    body = json.loads(last_attributes(capfire)['body'])
    assert body == {'password': "[Scrubbed due to 'password']", 'id': 1}


def test_message_does_not_leak_a_value_whose_key_matched(capfire: CaptureLogfire) -> None:
    logfire.info('login {user} with {password}', user='bob', password=SECRET)
    [span] = capfire.exporter.exported_spans_as_dict()
    assert span['attributes']['logfire.msg'] == "login bob with [Scrubbed due to 'password']"
    assert span['attributes']['logfire.msg_template'] == 'login {user} with {password}'
    assert_no_secret(capfire)


def test_span_messages_are_scrubbed_too(capfire: CaptureLogfire) -> None:
    with logfire.span('connecting with {api_key}', api_key=SECRET):
        pass
    assert_no_secret(capfire)


def test_url_query_parameters_are_scrubbed_one_by_one(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer_provider().get_tracer('t')
    url = f'http://127.0.0.1/search?q=shoes&api_key={SECRET}&page=2'
    tracer.start_span('GET', attributes={'url.full': url, 'http.target': f'/search?session={SECRET}'}).end()
    attributes = last_attributes(capfire)
    assert attributes['url.full'] == "http://127.0.0.1/search?q=shoes&api_key=[Scrubbed due to 'api_key']&page=2"
    assert attributes['http.target'] == "/search?session=[Scrubbed due to 'session']"
    assert_no_secret(capfire)


@pytest.mark.parametrize('header', ['authorization', 'cookie', 'set_cookie', 'proxy_authorization', 'x_api_key'])
def test_credential_headers_are_always_redacted(capfire: CaptureLogfire, header: str) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer_provider().get_tracer('t')
    key = f'http.request.header.{header}'
    tracer.start_span('GET', attributes={key: (SECRET,), 'http.request.header.accept': ('text/plain',)}).end()
    attributes = last_attributes(capfire)
    assert attributes[key] == (f"[Scrubbed due to '{header.replace('_', '-')}']",)
    assert attributes['http.request.header.accept'] == ('text/plain',)


def test_exception_messages_are_scrubbed_only_by_extra_patterns() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(extra_patterns=['acct-\\d+']),
    )
    try:
        raise ValueError('password reset failed for acct-12345')
    except ValueError:
        lf.exception('failed')
    [event] = exporter.exported_spans[0].events
    assert event.attributes is not None
    assert event.attributes['exception.message'] == "[Scrubbed due to 'acct-\\d+']"
    assert 'acct-12345' not in str(event.attributes['exception.stacktrace'])
    lf.shutdown()


def test_default_patterns_leave_exception_text_alone(capfire: CaptureLogfire) -> None:
    try:
        raise ValueError('password reset failed')
    except ValueError:
        logfire.exception('failed')
    [span] = capfire.exporter.exported_spans_as_dict()
    assert span['events'][0]['attributes']['exception.message'] == 'password reset failed'


def test_callback_can_keep_or_alter_a_match() -> None:
    seen: list[ScrubMatch] = []

    def callback(match: ScrubMatch) -> Any:
        seen.append(match)
        if match.path == ('attributes', 'session_count'):
            return match.value
        if match.path == ('attributes', 'password'):
            return 'p***'
        return None

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(callback=callback),
    )
    lf.info('x', session_count=3, password=SECRET, secret=SECRET)
    attributes = dict(exporter.exported_spans[0].attributes or {})
    assert attributes['session_count'] == 3
    assert attributes['password'] == 'p***'
    assert attributes['secret'] == "[Scrubbed due to 'secret']"
    assert {m.path for m in seen} >= {
        ('attributes', 'session_count'),
        ('attributes', 'password'),
        ('attributes', 'secret'),
    }
    assert all(m.pattern_match.group(0) for m in seen)
    lf.shutdown()


def test_scrubbing_false_sends_values_unredacted() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)], scrubbing=False
    )
    lf.info('login {password}', password=SECRET)
    attributes = dict(exporter.exported_spans[0].attributes or {})
    assert attributes['password'] == SECRET
    assert attributes['logfire.msg'] == f'login {SECRET}'
    lf.shutdown()


def test_console_prints_no_secret_at_span_start_or_in_logs() -> None:
    output = io.StringIO()
    lf = logfire.configure(local=True, console=logfire.ConsoleOptions(output=output, colors='never', verbose=True))
    with lf.span('outer {token}', token='pylf_v1_us_0123456789abcdef', password=SECRET):
        lf.info('inner {api_key}', api_key=SECRET)
    text = output.getvalue()
    assert 'outer' in text and 'inner' in text
    assert SECRET not in text and '0123456789abcdef' not in text
    lf.shutdown()


def test_scrubbed_attribute_names_the_key_never_the_secret(capfire: CaptureLogfire) -> None:
    logfire.info('x', password=SECRET, note=f'password: {SECRET}')
    scrubbed = last_attributes(capfire)['logfire.scrubbed']
    assert SECRET not in scrubbed
    assert json.loads(scrubbed) == [
        {'path': ['attributes', 'password'], 'matched_substring': 'password'},
        {'path': ['attributes', 'note'], 'matched_substring': 'password'},
    ]


def test_token_is_absent_from_everything_a_configured_process_prints(tmp_path: Any) -> None:
    token = 'pylf_v1_us_TOPSECRETTOKENVALUE123'
    code = textwrap.dedent(
        f"""
        import logfire
        lf = logfire.configure(console=logfire.ConsoleOptions(verbose=True, colors='never'))
        print(repr(lf.config.config))
        print(repr(lf.config.config.settings))
        logfire.info('token {{t}} and {{logfire_token}}', t={token!r}, logfire_token={token!r})
        try:
            logfire.configure(min_level='nope')
        except Exception as exc:
            print(exc)
        logfire.shutdown(timeout_millis=500)
        """
    )
    env = clean_env(LOGFIRE_TOKEN=token, LOGFIRE_BASE_URL='http://127.0.0.1:9', LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='500')
    result = run_python(code, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'token' in result.stdout
    assert 'TOPSECRET' not in result.stdout + result.stderr


def test_values_scrubbed_at_start_are_listed_once(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer_provider().get_tracer('t')
    attributes = {'http.request.header.cookie': (SECRET,), 'url.full': f'http://127.0.0.1/?session={SECRET}'}
    tracer.start_span('GET', attributes=attributes).end()
    scrubbed = json.loads(last_attributes(capfire)['logfire.scrubbed'])
    assert sorted(entry['path'][1] for entry in scrubbed) == ['http.request.header.cookie', 'url.full']


class _AddsPasswordOnStart(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute('password', SECRET)


class _ExportsAndAddsPasswordOnStart(SimpleSpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute('password', SECRET)


@pytest.mark.parametrize('adder', [_AddsPasswordOnStart, None], ids=['another processor', 'a subclass of a known one'])
def test_a_secret_a_processor_adds_when_a_log_starts_is_scrubbed(adder: type[SpanProcessor] | None) -> None:
    exporter = TestExporter()
    processors = [adder(), SimpleSpanProcessor(exporter)] if adder else [_ExportsAndAddsPasswordOnStart(exporter)]
    lf = logfire.configure(local=True, console=False, additional_span_processors=processors)
    lf.info('hello {name}', name='x')
    attributes = dict(exporter.exported_spans[0].attributes or {})
    assert attributes['password'] == "[Scrubbed due to 'password']"
    assert attributes['logfire.msg'] == 'hello x'
    lf.shutdown()


def test_a_secret_set_inside_a_span_is_scrubbed(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    with logfire.span('work {n}', n=1):
        trace.get_current_span().set_attribute('api_key', SECRET)
    assert last_attributes(capfire)['api_key'] == "[Scrubbed due to 'api_key']"


def test_instrumented_function_arguments_do_not_leak_through_the_message(capfire: CaptureLogfire) -> None:
    @logfire.instrument('login {user} with {password}')
    def login(user: str, password: str) -> None:
        pass

    login('ann', SECRET)
    [span] = capfire.exporter.exported_spans_as_dict()
    assert span['attributes']['logfire.msg'] == "login ann with [Scrubbed due to 'password']"
    assert_no_secret(capfire)


def test_secrets_inside_non_string_message_values_are_masked(capfire: CaptureLogfire) -> None:
    logfire.info('user {user} items {items}', user={'password': SECRET}, items=[f'password={SECRET}'])
    [span] = capfire.exporter.exported_spans_as_dict()
    assert span['attributes']['logfire.msg'] == "user [Scrubbed due to 'password'] items [Scrubbed due to 'password']"
    assert_no_secret(capfire)


def test_a_failing_scrub_callback_redacts_everything_rather_than_nothing() -> None:
    def broken(match: ScrubMatch) -> Any:
        raise RuntimeError('bug in the callback')

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(callback=broken),
    )
    with lf.span('work'):
        pass
    lf.info('at start {password}', password=SECRET)
    with lf.span('login') as span:
        span.set_attribute('password', SECRET)
    assert SECRET not in str([dict(s.attributes or {}) for s in exporter.exported_spans])
    lf.shutdown()


def test_exception_status_description_follows_the_exception_rules() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(extra_patterns=['acct-\\d+']),
    )
    with pytest.raises(ValueError):
        with lf.span('charge'):
            raise ValueError('charge failed for acct-12345')
    [span] = exporter.exported_spans
    assert span.status.description == "[Scrubbed due to 'acct-\\d+']"
    lf.shutdown()


class _ReadsOnStart(SpanProcessor):
    """A processor that reads spans when they start, as the console does."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.seen.append(dict(span.attributes or {}))


@pytest.mark.parametrize('observed', [True, False], ids=['read at start', 'read only at end'])
@pytest.mark.parametrize('query', [f'password={SECRET}', 'page=2', ''], ids=['secret query', 'query', 'no query'])
@pytest.mark.parametrize('where', ['http.url', 'http.target', 'url.query'])
def test_http_server_spans_are_scrubbed_whoever_reads_them_first(observed: bool, query: str, where: str) -> None:
    from opentelemetry.trace import SpanKind

    exporter = TestExporter()
    reader = _ReadsOnStart()
    processors: list[SpanProcessor] = (
        [reader, SimpleSpanProcessor(exporter)] if observed else [SimpleSpanProcessor(exporter)]
    )
    lf = logfire.configure(local=True, console=False, send_to_logfire=False, additional_span_processors=processors)
    try:
        suffix = f'?{query}' if query else ''
        attributes: dict[str, Any] = {
            'http.request.header.authorization': (f'Bearer {SECRET}',),
            'api_key': SECRET,
        }
        if where == 'http.url':  # the old conventions, as OTel's ASGI middleware writes them
            attributes |= {'http.method': 'POST', 'http.target': '/login', 'http.url': f'http://h/login{suffix}'}
        elif where == 'http.target':  # the old conventions, with the query in the target
            attributes |= {'http.method': 'POST', 'http.target': f'/login{suffix}'}
        else:  # the stable conventions
            attributes |= {'http.request.method': 'POST', 'url.path': '/login'}
            if query:
                attributes['url.query'] = query
        lf.config.tracer_provider.get_tracer('server').start_span(
            'POST', kind=SpanKind.SERVER, attributes=attributes
        ).end()
    finally:
        lf.shutdown()
    [span] = exporter.exported_spans
    exported = dict(span.attributes or {})
    assert SECRET not in json.dumps(exported, default=str)
    message = str(exported['logfire.msg'])
    assert message.startswith('POST /login')
    if query == 'page=2':
        assert message.endswith(" ? page='2'") or message == 'POST /login?page=2'
    if observed:
        [at_start] = reader.seen
        assert SECRET not in json.dumps(at_start, default=str)
        assert at_start['logfire.msg'] == exported['logfire.msg']


class _OnStartSetOnTheInstance(SimpleSpanProcessor):
    pass


def test_a_processor_whose_on_start_is_set_on_the_instance_sees_spans_scrubbed() -> None:
    exporter = TestExporter()
    processor = _OnStartSetOnTheInstance(exporter)
    seen: list[dict[str, Any]] = []
    processor.on_start = lambda span, parent_context=None: seen.append(dict(span.attributes or {}))
    lf = logfire.configure(local=True, console=False, send_to_logfire=False, additional_span_processors=[processor])
    try:
        lf.config.tracer_provider.get_tracer('t').start_span('work', attributes={'api_key': SECRET}).end()
    finally:
        lf.shutdown()
    [at_start] = seen
    assert at_start['api_key'] == "[Scrubbed due to 'api_key']"


def test_a_failing_scrub_callback_redacts_what_a_processor_sees_at_start() -> None:
    def broken(match: ScrubMatch) -> Any:
        raise RuntimeError('bug in the callback')

    reader = _ReadsOnStart()
    lf = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        additional_span_processors=[reader],
        scrubbing=ScrubbingOptions(callback=broken),
    )
    try:
        lf.config.tracer_provider.get_tracer('t').start_span('work', attributes={'api_key': SECRET}).end()
    finally:
        lf.shutdown()
    assert reader.seen == [
        {'api_key': marker('an error while scrubbing'), 'logfire.msg': 'work', 'logfire.span_type': 'span'}
    ]


def test_a_span_the_end_scrub_cannot_handle_is_not_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from logfire._internal import scrubbing

    def broken_copy(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError('cannot copy')

    exporter = TestExporter()
    lf = logfire.configure(
        local=True, console=False, send_to_logfire=False, additional_span_processors=[SimpleSpanProcessor(exporter)]
    )
    try:
        monkeypatch.setattr(scrubbing, 'copy_span', broken_copy)  # the scrubber's fail-closed path fails too
        lf.config.tracer_provider.get_tracer('t').start_span('work', attributes={'api_key': SECRET}).end()
        lf.config.tracer_provider.get_tracer('t').start_span('clean', attributes={'n': 1}).end()
    finally:
        lf.shutdown()
    assert [span.name for span in exporter.exported_spans] == ['clean']


def test_span_events_other_than_exceptions_are_scrubbed(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    with logfire.span('login') as span:
        span.add_event('attempt', {'password': SECRET, 'user': 'ada'})
    with trace.get_tracer('raw').start_as_current_span('raw login') as raw:
        raw.add_event('attempt', {'password': SECRET, 'user': 'ada'})

    spans = capfire.exporter.exported_spans_as_dict()
    assert [s['name'] for s in spans] == ['login', 'raw login']
    for exported in spans:
        [event] = exported['events']
        assert event['name'] == 'attempt'
        assert event['attributes']['password'] == "[Scrubbed due to 'password']"
        assert event['attributes']['user'] == 'ada'
        assert json.loads(event['attributes']['logfire.scrubbed'])[0]['path'][-1] == 'password'
    assert_no_secret(capfire)


def test_a_url_holding_an_earlier_marker_keeps_it_readable_with_every_other_parameter(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    earlier = "[Scrubbed due to 'api_key']"  # say, a URL copied from a span that was already scrubbed
    url = f'http://h/a/b?api_key={earlier}&debug=&password={SECRET}&a%2Fb=1&page=2'
    trace.get_tracer_provider().get_tracer('t').start_span('GET', attributes={'url.full': url}).end()

    assert last_attributes(capfire)['url.full'] == (
        f"http://h/a/b?api_key={earlier}&debug=&password=[Scrubbed due to 'password']&a%2Fb=1&page=2"
    )


def test_a_url_whose_match_the_callback_keeps_is_left_exactly_as_it_was() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(callback=lambda match: match.value),
    )
    try:
        query = 'q=red+shoes&session=42&note=a%20b'
        lf.config.tracer_provider.get_tracer('server').start_span('GET', attributes={'url.query': query}).end()
    finally:
        lf.shutdown()
    [exported] = exporter.exported_spans
    assert (exported.attributes or {})['url.query'] == 'q=red+shoes&session=42&note=a%20b'


def test_scrubbing_an_event_keeps_its_time_and_leaves_its_clean_neighbours_alone(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    with trace.get_tracer('raw').start_as_current_span('login') as span:
        span.add_event('start', {'user': 'ada'}, timestamp=1_000)
        span.add_event('attempt', {'password': SECRET}, timestamp=2_000)

    [exported] = capfire.exporter.exported_spans
    events = exported.events
    assert [(e.name, e.timestamp) for e in events] == [('start', 1_000), ('attempt', 2_000)]
    assert dict(events[0].attributes or {}) == {'user': 'ada'}
    assert (events[1].attributes or {})['password'] == "[Scrubbed due to 'password']"


def test_the_callback_sees_and_can_alter_exception_messages_and_status_descriptions() -> None:
    seen: list[ScrubMatch] = []

    def callback(match: ScrubMatch) -> Any:
        seen.append(match)
        return str(match.value).replace('acct-12345', 'acct-***')

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(extra_patterns=['acct-\\d+'], callback=callback),
    )
    try:
        with pytest.raises(ValueError):
            with lf.span('charge'):
                raise ValueError('charge failed for acct-12345')
    finally:
        lf.shutdown()

    [span] = exporter.exported_spans
    [event] = span.events
    assert (event.attributes or {})['exception.message'] == 'charge failed for acct-***'
    assert span.status.description is not None and 'acct-***' in span.status.description
    assert 'acct-12345' not in str([span.status.description, dict(event.attributes or {})])
    by_path = {m.path: m for m in seen}
    assert {('attributes', 'exception.message'), ('attributes', 'status', 'description')} <= set(by_path)
    for match in by_path.values():
        assert 'acct-12345' in str(match.value) and match.pattern_match.group(0) == 'acct-12345'


def test_a_status_description_marker_names_the_extra_pattern_even_beside_a_default_word() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(extra_patterns=['acct-\\d+']),
    )
    try:
        with pytest.raises(ValueError):
            with lf.span('reset'):
                raise ValueError('password reset failed for acct-12345')
    finally:
        lf.shutdown()
    [span] = exporter.exported_spans
    assert span.status.description == "[Scrubbed due to 'acct-\\d+']"


def test_a_failing_scrub_callback_still_keeps_logfires_own_attributes() -> None:
    def broken(match: ScrubMatch) -> Any:
        raise RuntimeError('bug in the callback')

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(callback=broken),
    )
    try:
        with lf.span('login {user}', user='ada') as span:
            span.set_attribute('password', SECRET)
    finally:
        lf.shutdown()
    [exported] = exporter.exported_spans
    attributes = dict(exported.attributes or {})
    assert attributes['password'] == "[Scrubbed due to 'an error while scrubbing']"
    assert attributes['logfire.msg_template'] == 'login {user}'  # safe keys keep their values
    assert attributes['logfire.span_type'] == 'span'


@pytest.mark.parametrize('scrubbing', [True, False], ids=['scrubbing on', 'scrubbing off'])
def test_span_links_are_scrubbed_like_attributes(scrubbing: bool) -> None:
    from opentelemetry.trace import Link, SpanContext

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=None if scrubbing else False,
    )
    linked = SpanContext(trace_id=1, span_id=2, is_remote=True)
    clean = SpanContext(trace_id=3, span_id=4, is_remote=True)
    try:
        lf.config.tracer_provider.get_tracer('t').start_span(
            'batch job',
            links=[Link(clean, {'user': 'ada'}), Link(linked, {'password': SECRET, 'user': 'ada'})],
        ).end()
    finally:
        lf.shutdown()

    [span] = exporter.exported_spans
    assert [link.context.span_id for link in span.links] == [4, 2]
    assert dict(span.links[0].attributes or {}) == {'user': 'ada'}
    second = dict(span.links[1].attributes or {})
    assert second['user'] == 'ada'
    assert second['password'] == ("[Scrubbed due to 'password']" if scrubbing else SECRET)


def test_headers_with_secret_names_or_values_and_string_lists_are_scrubbed(capfire: CaptureLogfire) -> None:
    from opentelemetry import trace

    attributes = {
        'http.request.header.x_session_id': (SECRET,),  # not a credential header, but its name matches
        'http.request.header.x_note': ('fine', f'my password is {SECRET}'),  # its value matches
        'http.request.header.accept': ('text/html',),
        'notes': ('fine', f'my password is {SECRET}'),
    }
    trace.get_tracer_provider().get_tracer('t').start_span('GET', attributes=attributes).end()

    exported = last_attributes(capfire)
    assert exported['http.request.header.x_session_id'] == ("[Scrubbed due to 'session']",)
    assert exported['http.request.header.x_note'] == ('fine', "[Scrubbed due to 'password']")
    assert exported['http.request.header.accept'] == ('text/html',)
    assert exported['notes'] == ('fine', "[Scrubbed due to 'password']")
    scrubbed = json.loads(exported['logfire.scrubbed'])
    assert {'path': ['attributes', 'http.request.header.x_session_id'], 'matched_substring': 'session'} in scrubbed
    assert_no_secret(capfire)


def test_the_callback_sees_credential_headers_and_can_keep_them() -> None:
    seen: list[ScrubMatch] = []

    def callback(match: ScrubMatch) -> Any:
        seen.append(match)
        return match.value

    exporter = TestExporter()
    lf = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        scrubbing=ScrubbingOptions(callback=callback),
    )
    key = 'http.request.header.authorization'
    try:
        lf.config.tracer_provider.get_tracer('t').start_span('GET', attributes={key: ('Basic abc',)}).end()
    finally:
        lf.shutdown()
    [span] = exporter.exported_spans
    assert (span.attributes or {})[key] == ('Basic abc',)
    [match] = seen
    assert match.path == ('attributes', key) and match.value == ('Basic abc',) and match.pattern_match is not None
