"""Stories about the OpenTelemetry logs signal: records that libraries emit through OTel's logs API.

They go through the shared pipeline (scrubbed, printed, exported to `/v1/logs` with the spans' reliable delivery);
logfire's own logs (`logfire.info()`, the logging handler) stay spans, as in the established SDK.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber, get_logger

import logfire
from logfire.exceptions import LogfireConfigError
from logfire.testing import CaptureLogfire, TestLogExporter

from .conftest import ROOT, clean_env, otel_env, run_python, script
from .otlp_receiver import OTLPReceiver, ReceivedLog


def queued_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / 'data' / 'export-queue').glob('*/*.otlp'))


def by_body(logs: list[ReceivedLog]) -> dict[Any, ReceivedLog]:
    return {json.dumps(log.body, sort_keys=True): log for log in logs}


# ---- on the wire ------------------------------------------------------------------------------------


def test_a_library_logger_obtained_before_configure_sends_its_records_to_v1_logs(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = """
        from opentelemetry._logs import SeverityNumber, get_logger
        library = get_logger('payments.lib', '1.2')  # at import time, before logfire is configured
        import logfire
        logfire.configure(console=False, inspect_arguments=False, service_name='shop')
        with logfire.span('checkout'):
            library.emit(body='card declined', severity_number=SeverityNumber.WARN, severity_text='WARN',
                         attributes={'order': 7})
        logfire.info('a log span, not a log record')
    """
    result = run_python(script(code, configure='console=False'), env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    (record,) = rx.logs()
    assert record.body == 'card declined'
    assert (record.log_record.severity_number, record.severity_text) == (SeverityNumber.WARN.value, 'WARN')
    assert record.attributes == {'order': 7}
    assert record.scope_name == 'payments.lib'
    assert record.resource_attributes['service.name'] == 'shop'
    (span,) = [s for s in rx.spans() if s.name == 'checkout']
    assert (record.log_record.trace_id.hex(), record.log_record.span_id.hex()) == (span.trace_id, span.span_id)
    assert sorted(s.name for s in rx.spans()) == ['a log span, not a log record', 'checkout']
    assert {r.path for r in rx.requests} == {'/v1/traces', '/v1/logs'}


def test_otel_logs_exporter_none_sends_no_log_records_but_still_spans(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = """
        from opentelemetry._logs import get_logger
        get_logger('lib').emit(body='not sent')
        logfire.info('sent')
    """
    result = run_python(script(code), env=otel_env(rx, tmp_path, OTEL_LOGS_EXPORTER='none'))
    assert result.returncode == 0, result.stderr

    assert [s.name for s in rx.spans()] == ['sent']
    assert rx.logs() == []
    assert {r.path for r in rx.requests} == {'/v1/traces'}


def test_secrets_in_log_record_attributes_and_body_are_scrubbed_before_they_leave(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    code = """
        from opentelemetry._logs import get_logger
        lib = get_logger('lib')
        lib.emit(body='login ok', attributes={'password': 'hunter2', 'user': 'ann',
                                              'request': {'api_key': 'abc123', 'path': '/login'}})
        lib.emit(body={'event': 'signup', 'credentials': {'user': 'bob'}, 'note': 'my secret is 42'})
        lib.emit(body='the session cookie was sent again')
    """
    result = run_python(script(code), env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    logs = rx.logs()
    assert len(logs) == 3
    first, second, third = logs
    assert first.body == 'login ok'
    attributes = first.attributes
    assert attributes['password'] == "[Scrubbed due to 'password']"
    assert attributes['user'] == 'ann'
    assert attributes['request'] == {'api_key': "[Scrubbed due to 'api_key']", 'path': '/login'}
    assert json.loads(attributes['logfire.scrubbed']) == [
        {'path': ['attributes', 'password'], 'matched_substring': 'password'},
        {'path': ['attributes', 'request', 'api_key'], 'matched_substring': 'api_key'},
    ]
    assert second.body == {
        'event': 'signup',
        'credentials': "[Scrubbed due to 'credential']",
        'note': "[Scrubbed due to 'secret']",
    }
    assert [note['path'] for note in json.loads(second.attributes['logfire.scrubbed'])] == [
        ['log_body', 'credentials'],
        ['log_body', 'note'],
    ]
    assert third.body == "[Scrubbed due to 'session']"
    sent = ''.join(str(r.request) for r in rx.requests)
    assert 'hunter2' not in sent and 'abc123' not in sent and 'my secret' not in sent


def test_log_records_wait_on_disk_while_the_collector_is_down_and_the_next_process_delivers_them(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    rx.go_away()
    first = run_python(
        script("""
            from opentelemetry._logs import get_logger
            lib = get_logger('lib')
            for i in range(5):
                lib.emit(body=f'record {i}')
        """),
        env=otel_env(rx, tmp_path),
    )
    assert first.returncode == 0, first.stderr
    assert queued_files(tmp_path), 'the unsent log records were not kept on disk'
    assert '5 log records not sent before exit are kept in' in first.stderr

    rx.come_back()
    second = run_python(script('pass'), env=otel_env(rx, tmp_path))  # emits nothing itself
    assert second.returncode == 0, second.stderr

    assert sorted(log.body for log in rx.logs()) == [f'record {i}' for i in range(5)]
    assert queued_files(tmp_path) == []


def test_a_log_record_emitted_just_before_sigterm_reaches_the_collector(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        from opentelemetry._logs import get_logger
        get_logger('worker').emit(body='shutting down soon')
        print('ready', flush=True)
        time.sleep(30)
    """)
    proc = subprocess.Popen(
        [sys.executable, '-c', code],
        env=otel_env(rx, tmp_path, OTEL_BSP_SCHEDULE_DELAY='60000'),  # only the SIGTERM flush can send it
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline().strip() == 'ready'
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGTERM
    assert [log.body for log in rx.logs()] == ['shutting down soon']


def test_a_body_otlp_cannot_carry_is_sent_as_text_not_lost(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = """
        from opentelemetry._logs import get_logger
        class Order:
            def __str__(self):
                return 'Order #7'
        lib = get_logger('lib')
        lib.emit(body=Order())
        lib.emit(body='plain')
    """
    result = run_python(script(code), env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    assert sorted(log.body for log in rx.logs()) == ['Order #7', 'plain']


# ---- console ----------------------------------------------------------------------------------------


def test_the_console_prints_log_records_nested_under_their_span_at_their_level() -> None:
    code = """
        from opentelemetry._logs import SeverityNumber, get_logger
        import logfire
        logfire.configure(send_to_logfire=False, inspect_arguments=False,
                          console=logfire.ConsoleOptions(colors='never', include_timestamps=False, verbose=True))
        lib = get_logger('lib')
        with logfire.span('import {n} rows', n=3):
            lib.emit(body='row skipped', severity_number=SeverityNumber.WARN, attributes={'row': 2, 'api_key': 'x'})
            lib.emit(body='too chatty', severity_number=SeverityNumber.DEBUG)
            lib.emit(body={'rows': 3, 'ok': True}, severity_text='INFO')
        try:
            1 / 0
        except ZeroDivisionError as exc:
            lib.emit(body='import failed', severity_number=SeverityNumber.ERROR, exception=exc)
    """
    result = run_python(textwrap.dedent(code), env=clean_env())
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    assert lines[:7] == [
        'import 3 rows',
        '│ <string>:7 info',
        '│ n=3',
        '  row skipped',
        '  │ warn',
        '  │ row=2',
        '  │ api_key="[Scrubbed due to \'api_key\']"',
    ]
    assert lines[7:9] == ['  {"rows": 3, "ok": true}', '  │ info']
    assert 'too chatty' not in result.stdout  # below the console's min_log_level
    assert lines[9:12] == ['import failed', '│ error', '│ ZeroDivisionError: division by zero']
    assert lines[-1] == '│ ZeroDivisionError: division by zero'  # the end of the traceback


# ---- in process: capfire, processors, suppression ------------------------------------------------------


def test_capfire_captures_log_records_with_their_span_and_stable_times(capfire: CaptureLogfire) -> None:
    logger = get_logger('billing')
    with logfire.span('charge'):
        logger.emit(body='charged', severity_number=SeverityNumber.INFO, attributes={'amount': 12})
    logfire.info('logfire.info stays a span')

    assert capfire.log_exporter.exported_logs_as_dicts(include_instrumentation_scope=True) == [
        {
            'body': 'charged',
            'severity_number': 9,
            'severity_text': None,
            'attributes': {'amount': 12},
            'timestamp': 1_000_000_000,
            'observed_timestamp': 2_000_000_000,
            'trace_id': 1,
            'span_id': 1,
            'trace_flags': 1,
            'instrumentation_scope': 'billing',
        }
    ]
    assert [span['name'] for span in capfire.exporter.exported_spans_as_dict()] == [
        'charge',
        'logfire.info stays a span',
    ]


def test_test_log_exporter_keeps_copies_and_normalises_code_locations(capfire: CaptureLogfire) -> None:
    attributes = {'code.file.path': '/srv/app/jobs.py', 'code.line.number': 88, 'payload': '{"a":[1]}'}
    get_logger('jobs').emit(body='ran', attributes=attributes, timestamp=5)

    [record] = capfire.log_exporter.exported_logs_as_dicts(parse_json_attributes=True, include_resources=True)
    assert record['attributes'] == {'code.file.path': 'jobs.py', 'code.line.number': 123, 'payload': {'a': [1]}}
    assert record['timestamp'] == 1_000_000_000
    assert record['resource']['attributes']['service.name']
    [raw] = capfire.log_exporter.exported_logs_as_dicts(fixed_line_number=None, strip_filepaths=False)
    assert raw['attributes']['code.line.number'] == 88
    assert raw['attributes']['code.file.path'] == '/srv/app/jobs.py'
    capfire.log_exporter.shutdown()
    assert capfire.log_exporter.exported_logs_as_dicts() == []


def test_records_made_while_instrumentation_is_suppressed_are_dropped(capfire: CaptureLogfire) -> None:
    logger = get_logger('chatty')
    with logfire.suppress_instrumentation():
        assert not logger.enabled()
        logger.emit(body='hidden')
    logger.emit(body='seen')

    assert [r['body'] for r in capfire.log_exporter.exported_logs_as_dicts()] == ['seen']


def test_a_logger_keeps_recording_into_the_new_pipeline_after_reconfiguring() -> None:
    code = """
        from opentelemetry._logs import get_logger
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        import logfire
        from logfire.testing import TestLogExporter
        first, second = TestLogExporter(), TestLogExporter()
        def configure(exporter):
            processors = [SimpleLogRecordProcessor(exporter)]
            logfire.configure(send_to_logfire=False, console=False,
                              advanced=logfire.AdvancedOptions(log_record_processors=processors))
        configure(first)
        logger = get_logger('lib')
        logger.emit(body='one')
        before = [r['body'] for r in first.exported_logs_as_dicts()]  # shutting the first pipeline down clears it
        configure(second)
        logger.emit(body='two')
        print(before, [r['body'] for r in second.exported_logs_as_dicts()])
    """
    result = run_python(textwrap.dedent(code))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['one'] ['two']"


def test_a_log_record_processor_that_is_not_one_fails_at_configure() -> None:
    with pytest.raises(LogfireConfigError, match='LogRecordProcessor'):
        logfire.configure(
            local=True,
            console=False,
            advanced=logfire.AdvancedOptions(log_record_processors=['not a processor']),  # type: ignore[list-item]
        )


def test_a_failing_log_record_processor_costs_neither_the_program_nor_the_next_processor() -> None:
    from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    class Broken(LogRecordProcessor):
        def on_emit(self, log_record: ReadWriteLogRecord) -> None:
            raise RuntimeError('processor bug')

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    exporter = TestLogExporter()
    processors = [Broken(), SimpleLogRecordProcessor(exporter)]
    local = logfire.configure(
        local=True, console=False, advanced=logfire.AdvancedOptions(log_record_processors=processors)
    )
    try:
        get_logger('lib', logger_provider=local.config.logger_provider).emit(body='still fine')
        assert [r['body'] for r in exporter.exported_logs_as_dicts()] == ['still fine']
    finally:
        local.shutdown()


def test_a_record_whose_only_secret_is_a_plain_value_or_follows_a_safe_key_is_scrubbed(capfire: CaptureLogfire) -> None:
    logger = get_logger('lib')
    logger.emit(body='login ok', attributes={'password': 'hunter2', 'user': 'ann'})
    logger.emit(body='retry', attributes={'code.context': {'step': 2}, 'request': {'api_key': 'abc123'}})

    first, second = capfire.log_exporter.exported_logs_as_dicts()
    assert first['attributes']['password'] == "[Scrubbed due to 'password']"
    assert first['attributes']['user'] == 'ann'
    assert second['attributes']['code.context'] == {'step': 2}  # a safe key is not searched
    assert second['attributes']['request'] == {'api_key': "[Scrubbed due to 'api_key']"}
    assert 'hunter2' not in json.dumps([first, second]) and 'abc123' not in json.dumps([first, second])
