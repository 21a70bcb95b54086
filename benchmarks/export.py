"""Export throughput: N identical pre-built spans, until a local OTLP receiver (another process) has all of them.

Ours is the span processor and exporter that `configure()` builds for an `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`;
the baseline is the SDK's `BatchSpanProcessor` with `OTLPSpanExporter`. Both use gzip, batches of 512 and a queue
large enough to drop nothing; after the last span is handed over, both are flushed and the clock stops when the
receiver has counted all N. The ratio is our throughput over the baseline's (higher is better).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from .harness import CheckFailed, InMemoryProcessor, Mode, Result, apply_ratios
from .processes import child_env

_RECEIVER = Path(__file__).resolve().parent / 'receiver.py'
_WAIT_SECONDS = 120.0


class Receiver:
    """The receiver process: its URL, and how many spans it has counted."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(_RECEIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f'http://127.0.0.1:{port}'

    def count(self) -> int:
        with urllib.request.urlopen(f'{self.url}/count', timeout=10) as response:
            return int(response.read())

    def wait_for(self, total: int) -> None:
        deadline = time.monotonic() + _WAIT_SECONDS
        while (count := self.count()) < total:
            if time.monotonic() > deadline:
                raise CheckFailed(f'the receiver got {count} of {total} spans within {_WAIT_SECONDS:.0f} s')
            time.sleep(0.005)
        if count != total:
            raise CheckFailed(f'the receiver got {count} spans, expected {total}')

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the receiver exits when its stdin closes
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process.stdout.close()


def prebuilt_spans(n: int) -> list[ReadableSpan]:
    """N spans with identical content (a name, 6 attributes), made once, outside any timing."""
    processor = InMemoryProcessor()
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer('benchmark')
    attributes: dict[str, Any] = {
        'http.method': 'GET',
        'http.route': '/items/{item_id}',
        'http.status_code': 200,
        'logfire.msg': 'GET /items/42',
        'logfire.span_type': 'span',
        'logfire.level_num': 9,
    }
    for _ in range(n):
        tracer.start_span('GET /items/{item_id}', attributes=attributes).end()
    return processor.take()


def _ours(endpoint: str, queue_size: int, data_dir: str) -> SpanProcessor:
    from logfire._internal.config import build_config
    from logfire._internal.exporters.otlp import span_exporters, span_processor
    from logfire._internal.settings import load_settings

    settings = load_settings(
        {
            'send_to_logfire': False,
            'console': False,
            'metrics': False,
            'data_dir': data_dir,
            'otlp_traces_endpoint': endpoint,
            'otlp_compression': 'gzip',
            'bsp_max_queue_size': queue_size,
            'bsp_max_export_batch_size': 512,
        }
    )
    config = build_config(settings)
    [exporter] = span_exporters(config)
    return span_processor(config, exporter)


def _baseline(endpoint: str, queue_size: int) -> SpanProcessor:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip)
    return BatchSpanProcessor(exporter, max_queue_size=queue_size, max_export_batch_size=512)


def _timed(processor: SpanProcessor, spans: list[ReadableSpan], receiver: Receiver) -> float:
    """Seconds from handing over the first span until the receiver has them all."""
    already = receiver.count()
    start = time.perf_counter()
    for span in spans:
        processor.on_end(span)
    processor.force_flush(int(_WAIT_SECONDS * 1000))
    receiver.wait_for(already + len(spans))
    return time.perf_counter() - start


def export_case(mode: Mode, spans: int = 10_000) -> Result:
    result = Result(
        name='export',
        ours=f'export {spans // 1000}k pre-built spans to a local OTLP receiver (gzip)',
        baseline='SDK BatchSpanProcessor + OTLPSpanExporter, queue large enough to drop none',
        unit='spans/s',
    )
    if mode.smoke:
        spans = 50
    batch = prebuilt_spans(spans)
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            try:
                ours = _ours(f'{receiver.url}/v1/traces', max(spans, 2048), data_dir)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                result.status = 'pending'
                result.note = f'our export wiring is not usable yet ({type(exc).__name__}: {exc})'
                return result
            baseline = _baseline(f'{receiver.url}/v1/traces', max(spans, 2048))
            try:
                _measure(result, mode, ours, baseline, batch, receiver)
            finally:
                ours.shutdown()
                baseline.shutdown()
    finally:
        receiver.close()
    return result


def _measure(
    result: Result,
    mode: Mode,
    ours: SpanProcessor,
    baseline: SpanProcessor,
    batch: list[ReadableSpan],
    receiver: Receiver,
) -> None:
    if not mode.smoke:  # warm up: connections, first-use imports
        _timed(ours, batch[:1000], receiver)
        _timed(baseline, batch[:1000], receiver)
    ours_rates: list[float] = []
    baseline_rates: list[float] = []
    ratios: list[float] = []
    sides: dict[str, Callable[[], float]] = {
        'ours': lambda: _timed(ours, batch, receiver),
        'baseline': lambda: _timed(baseline, batch, receiver),
    }
    for round_index in range(max(1, mode.rounds)):
        order = ('ours', 'baseline') if round_index % 2 == 0 else ('baseline', 'ours')
        rates = {side: len(batch) / sides[side]() for side in order}
        ours_rates.append(rates['ours'])
        baseline_rates.append(rates['baseline'])
        ratios.append(rates['ours'] / rates['baseline'])
    apply_ratios(result, ours_rates, baseline_rates, ratios)
    result.spans = {'ours': len(batch) * len(ratios), 'baseline': len(batch) * len(ratios)}
