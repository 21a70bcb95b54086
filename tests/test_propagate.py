"""`logfire.propagate`: hand the trace context to a queue consumer, another process, or a process pool."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

import logfire
from logfire.propagate import ContextCarrier, attach_context, get_context
from logfire.testing import CaptureLogfire

from .conftest import ROOT, clean_env, run_python
from .otlp_receiver import OTLPReceiver


def ctx(span: ReadableSpan) -> SpanContext:
    assert span.context is not None
    return span.context


def named(capfire: CaptureLogfire, name: str) -> ReadableSpan:
    [span] = [s for s in capfire.exporter.exported_spans if s.name == name]
    return span


def test_get_context_is_a_plain_dict_with_the_current_span_as_traceparent(capfire: CaptureLogfire) -> None:
    assert get_context() == {}
    with logfire.span('outer'):
        carrier = get_context()
    span = named(capfire, 'outer')
    assert type(carrier) is dict
    assert carrier == {'traceparent': f'00-{ctx(span).trace_id:032x}-{ctx(span).span_id:016x}-01'}
    assert json.loads(json.dumps(carrier)) == carrier


def test_a_queue_consumer_thread_joins_the_producers_trace(capfire: CaptureLogfire) -> None:
    jobs: queue.Queue[tuple[ContextCarrier, int]] = queue.Queue()

    def consume() -> None:
        carrier, n = jobs.get(timeout=30)
        with attach_context(carrier):
            logfire.info('consumed {n}', n=n)
        logfire.info('after the block')

    with logfire.span('produce'):
        jobs.put((get_context(), 1))
    consumer = threading.Thread(target=consume)
    consumer.start()
    consumer.join(30)
    producer, consumed, after = (
        named(capfire, 'produce'),
        named(capfire, 'consumed {n}'),
        named(capfire, 'after the block'),
    )
    assert consumed.parent is not None and consumed.parent.span_id == ctx(producer).span_id
    assert ctx(consumed).trace_id == ctx(producer).trace_id
    assert after.parent is None  # the previous context is back after the block


def test_own_context_is_trusted_and_third_party_context_follows_distributed_tracing() -> None:
    code = textwrap.dedent(
        """
        import json
        import logfire
        from logfire.propagate import attach_context

        logfire.configure(send_to_logfire=False, console=False, distributed_tracing=False)
        carrier = {'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'}
        trace_ids = []
        for third_party in (False, True):
            with attach_context(carrier, third_party=third_party), logfire.span('x') as span:
                trace_ids.append(f'{span.get_span_context().trace_id:032x}')
        print(json.dumps(trace_ids))
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    own, third_party = json.loads(result.stdout)
    assert own == '0af7651916cd43dd8448eb211c80319c'
    assert third_party != own


def test_the_process_pool_example_gives_one_trace_across_processes(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            LOGFIRE_SEND_TO_LOGFIRE='false',
            LOGFIRE_CONSOLE='false',
            OTEL_BSP_SCHEDULE_DELAY='100',
        )
        result = subprocess.run(
            [sys.executable, str(ROOT / 'examples' / 'process_pool.py')],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        spans = receiver.wait_for_spans(6)
    [fan_out] = [s for s in spans if s.name == 'fan out']
    squares = [s for s in spans if s.name == 'square {n}']
    assert sorted(s.attributes['n'] for s in squares) == [0, 1, 2, 3]
    assert {s.parent_span_id for s in squares} == {fan_out.span_id}
    assert {s.trace_id for s in spans} == {fan_out.trace_id}
