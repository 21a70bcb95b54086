"""Stories about one OTLP/HTTP request: what reaches the collector, and how each answer or failure is told apart.

Driven through the HTTP transport against the real receiver on 127.0.0.1 (or a closed port): no retries, no threads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from logfire._internal.exporters.payload import Payload, compress
from logfire._internal.exporters.retry import Outcome, SendResult
from logfire._internal.exporters.transport import HttpTransport

from .otlp_receiver import OTLPReceiver
from .test_export import closed_port
from .test_export_queue import request_with


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


def traces_url(rx: OTLPReceiver) -> str:
    return f'{rx.endpoint}/v1/traces'


def test_a_gzip_payload_arrives_with_its_headers_and_a_2xx_counts_as_sent(rx: OTLPReceiver) -> None:
    transport = HttpTransport(traces_url(rx), {'x-team': 'checkout'}, 'gzip')
    payload = Payload(compress(request_with(('api', 2)), 'gzip'), 'gzip', 2)
    assert transport.send(payload, 5) == SendResult(Outcome.SENT)
    assert transport.send(payload, 5) == SendResult(Outcome.SENT)  # again, on the same connection
    transport.close()
    assert transport.send(payload, 5) == SendResult(Outcome.SENT)  # after close, on a new one
    transport.close()

    first = rx.requests[0]
    assert first.headers['Content-Type'] == 'application/x-protobuf'
    assert first.headers['Content-Encoding'] == 'gzip'
    assert first.headers['x-team'] == 'checkout'
    assert [s.name for s in rx.spans()] == ['api 0', 'api 1'] * 3


def test_an_uncompressed_payload_is_sent_without_a_content_encoding(rx: OTLPReceiver) -> None:
    transport = HttpTransport(traces_url(rx), {}, '')
    assert transport.send(Payload(request_with(('api', 1)), '', 1), 5).outcome is Outcome.SENT
    assert 'Content-Encoding' not in rx.requests[0].headers


def test_a_busy_collector_is_retried_when_its_retry_after_says(rx: OTLPReceiver) -> None:
    rx.respond_with(503, {'Retry-After': '7'}, times=1)
    transport = HttpTransport(traces_url(rx), {}, '')
    assert transport.send(Payload(request_with(('api', 1)), '', 1), 5) == SendResult(Outcome.RETRY, 'HTTP 503', 7.0)


def test_a_refusal_is_dropped_with_its_status(rx: OTLPReceiver) -> None:
    rx.respond_with(401, times=1)
    transport = HttpTransport(traces_url(rx), {}, '')
    result = transport.send(Payload(request_with(('api', 1)), '', 1), 5)
    assert result.outcome is Outcome.REJECTED and result.detail.startswith('HTTP 401')


def test_a_closed_port_and_a_silent_collector_are_retried_and_described() -> None:
    transport = HttpTransport(f'http://127.0.0.1:{closed_port()}/v1/traces', {}, '')
    assert transport.send(Payload(b'', '', 1), 5) == SendResult(Outcome.RETRY, 'cannot connect: connection refused')


def test_a_connection_closed_without_an_answer_is_retried_and_named_by_its_cause() -> None:
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)

        def hang_up() -> None:
            connection, _ = server.accept()
            connection.recv(65536)
            connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        transport = HttpTransport(f'http://127.0.0.1:{server.getsockname()[1]}/v1/traces', {}, '')
        result = transport.send(Payload(b'', '', 1), 5)
    assert result == SendResult(Outcome.RETRY, 'cannot connect: RemoteDisconnected')  # no friendlier name for it


def test_a_collector_that_does_not_answer_in_time_is_retried(rx: OTLPReceiver) -> None:
    rx.stall(5, times=1)
    transport = HttpTransport(traces_url(rx), {}, '')
    assert transport.send(Payload(b'', '', 1), 0.3) == SendResult(Outcome.RETRY, 'no answer within 0.3s')
    rx.stop()  # ends the stalled request


def test_an_invalid_url_is_refused_for_good_not_retried() -> None:
    transport = HttpTransport('http://127.0.0.1:port/v1/traces', {}, '')
    result = transport.send(Payload(b'', '', 1), 5)
    assert result.outcome is Outcome.REJECTED and result.detail.startswith('InvalidURL: ')
