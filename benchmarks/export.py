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


def _ours(endpoint: str, queue_size: int, data_dir: str, compression: str = 'gzip') -> SpanProcessor:
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
            'otlp_compression': compression,
            'bsp_max_queue_size': queue_size,
            'bsp_max_export_batch_size': 512,
        }
    )
    config = build_config(settings)
    [exporter] = span_exporters(config)
    return span_processor(config, exporter)


def _baseline(endpoint: str, queue_size: int, compression: str = 'gzip') -> SpanProcessor:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(
        endpoint=endpoint, compression=Compression.Gzip if compression == 'gzip' else Compression.NoCompression
    )
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


_CPU_PER = 100_000
"""The CPU rows report CPU seconds per this many spans."""


def _background_cpu(processor: SpanProcessor, spans: list[ReadableSpan], receiver: Receiver) -> float:
    """CPU seconds the process spent outside this thread (in the export threads) to deliver `spans`."""
    process, thread = time.process_time(), time.thread_time()
    _timed(processor, spans, receiver)
    # At least a nanosecond: on a tiny smoke batch the two clocks' granularity can make the difference negative.
    return max((time.process_time() - process) - (time.thread_time() - thread), 1e-9)


def _export_cpu_case(mode: Mode, compression: str, spans: int) -> Result:
    result = Result(
        name=f'export_cpu_{compression}',
        ours=f'CPU of the export threads per {_CPU_PER // 1000}k spans ({compression}), {spans // 1000}k per round',
        baseline=f'the same for SDK BatchSpanProcessor + OTLPSpanExporter ({compression})',
        unit='s',
    )
    if mode.smoke:
        spans = 50
    batch = prebuilt_spans(spans)
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            endpoint = f'{receiver.url}/v1/traces'
            ours = _ours(endpoint, max(spans, 2048), data_dir, compression)
            baseline = _baseline(endpoint, max(spans, 2048), compression)
            try:
                if not mode.smoke:  # warm up: connections, first-use imports
                    _timed(ours, batch[:1000], receiver)
                    _timed(baseline, batch[:1000], receiver)
                scale = _CPU_PER / len(batch)
                sides = {
                    'ours': lambda: _background_cpu(ours, batch, receiver) * scale,
                    'baseline': lambda: _background_cpu(baseline, batch, receiver) * scale,
                }
                cpu: dict[str, list[float]] = {'ours': [], 'baseline': []}
                for round_index in range(max(1, min(mode.rounds, 9))):  # 9 rounds are plenty at seconds each
                    for side in ('ours', 'baseline') if round_index % 2 == 0 else ('baseline', 'ours'):
                        cpu[side].append(sides[side]())
                ratios = [o / b for o, b in zip(cpu['ours'], cpu['baseline'], strict=True)]
                apply_ratios(result, cpu['ours'], cpu['baseline'], ratios)
                result.spans = {'ours': len(batch) * len(ratios), 'baseline': len(batch) * len(ratios)}
            finally:
                ours.shutdown()
                baseline.shutdown()
    finally:
        receiver.close()
    return result


def export_cpu_gzip_case(mode: Mode, spans: int = 20_000) -> Result:
    return _export_cpu_case(mode, 'gzip', spans)


def export_cpu_none_case(mode: Mode, spans: int = 20_000) -> Result:
    return _export_cpu_case(mode, 'none', spans)


def encode_case(mode: Mode, spans: int = 512) -> Result:
    """Encoding alone, per span: ours (what the exporter calls) vs OpenTelemetry's, on batches of 512 spans."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from logfire._internal.exporters.span_encoder import serialize_spans

    result = Result(
        name='otlp_encode',
        ours=f'serialize_spans() of a batch of {spans} spans, per span (thread CPU)',
        baseline='encode_spans(batch).SerializeToString(), per span',
        unit='us/op',
    )
    if mode.smoke:
        spans = 5
    batch = prebuilt_spans(spans)
    if serialize_spans(batch) != encode_spans(batch).SerializeToString():
        raise CheckFailed('serialize_spans and encode_spans disagree')

    def per_span(encode: Callable[[list[ReadableSpan]], object]) -> float:
        best = float('inf')
        for _ in range(1 if mode.smoke else 5):  # the fastest of five batches: the least disturbed by other load
            start = time.thread_time()
            encode(batch)
            best = min(best, time.thread_time() - start)
        return max(best, 1e-9) / len(batch) * 1e6

    sides: dict[str, Callable[[], float]] = {
        'ours': lambda: per_span(serialize_spans),
        'baseline': lambda: per_span(lambda b: encode_spans(b).SerializeToString()),
    }
    costs: dict[str, list[float]] = {'ours': [], 'baseline': []}
    for round_index in range(max(1, mode.rounds)):
        for side in ('ours', 'baseline') if round_index % 2 == 0 else ('baseline', 'ours'):
            costs[side].append(sides[side]())
    ratios = [o / b for o, b in zip(costs['ours'], costs['baseline'], strict=True)]
    apply_ratios(result, costs['ours'], costs['baseline'], ratios)
    result.spans = {'ours': len(batch) * len(ratios), 'baseline': len(batch) * len(ratios)}
    return result
