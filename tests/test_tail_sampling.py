"""Stories about tail sampling: a whole trace is exported once one of its spans shows it matters, else nothing.

In-process over the test exporter (placed where the OTLP batch processors sit, behind the tail-sampling
buffer), and over the wire: a subprocess exiting with traces undecided, and real uvicorn.
"""

from __future__ import annotations

import contextvars
import io
import logging
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire._internal.config import build_config
from logfire._internal.exporters.tail_sampling import (
    MAX_TOTAL_BYTES,
    MAX_TOTAL_SPANS,
    MAX_TRACE_BYTES,
    MAX_TRACE_SPANS,
    TailSamplingProcessor,
)
from logfire._internal.providers import build_pipeline
from logfire._internal.settings import load_settings
from logfire._internal.state import GLOBAL_STATE
from logfire.exceptions import LogfireConfigError
from logfire.sampling import SpanLevel, TailSamplingSpanInfo
from logfire.testing import IncrementalIdGenerator, TestExporter, TimeGenerator

from .conftest import clean_env, run_python
from .otlp_receiver import OTLPReceiver
from .uvicorn_server import UvicornServer

LEVEL_OR_DURATION = logfire.SamplingOptions.level_or_duration()


@dataclass
class Sampled:
    """What a test sees: the spans a backend would get, and the tail-sampling buffer itself."""

    exporter: TestExporter
    processor: TailSamplingProcessor

    def names(self) -> list[str]:
        return [span.name for span in self.exporter.exported_spans]


Configure = Callable[..., Sampled]


@pytest.fixture
def sampled() -> Iterator[Configure]:
    """Configure the global logfire like `capfire`, with `sampling`, the test exporter in the export position."""
    original: list[Any] = []  # the configuration before the test, restored after it

    def configure(
        sampling: logfire.SamplingOptions, *, clock: TimeGenerator | None = None, console: io.StringIO | None = None
    ) -> Sampled:
        exporter = TestExporter()
        kwargs: dict[str, Any] = {
            'send_to_logfire': False,
            'console': console is not None,
            'console_output': console,
            'console_colors': 'never',
            'console_include_timestamp': False,
            'metrics': False,
            'id_generator': IncrementalIdGenerator(),
            'trace_sample_rate': sampling.head,
            'sampling_tail': sampling.tail,
            'ns_timestamp_generator': clock,
        }
        config = build_config(load_settings({k: v for k, v in kwargs.items() if v is not None}))
        pipeline = build_pipeline(config, export_processors=[SimpleSpanProcessor(exporter)])
        previous = GLOBAL_STATE.swap(config, pipeline)
        if not original:
            original.append(previous)
        elif previous[1] is not None:
            previous[1].shutdown(1000)  # this test's earlier pipeline
        [processor] = [p for p in root_children(pipeline) if isinstance(p, TailSamplingProcessor)]
        return Sampled(exporter, processor)

    yield configure
    if original:
        _, ours = GLOBAL_STATE.swap(*original[0])
        if ours is not None:
            ours.shutdown(1000)


def root_children(pipeline: Any) -> tuple[Any, ...]:
    return pipeline.tracer_provider._active_span_processor.children


# ---- level, duration, background rate -----------------------------------------------------------------


def test_a_trace_with_an_error_is_kept_whole_including_the_spans_before_the_error(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with logfire.span('checkout'):
        with logfire.span('load cart'):
            logfire.info('cart loaded')
        assert out.names() == []
        logfire.error('payment failed')
        logfire.info('after the decision')

    assert sorted(out.names()) == ['after the decision', 'cart loaded', 'checkout', 'load cart', 'payment failed']
    assert out.processor.buffered_spans == 0


def test_a_trace_below_the_level_is_dropped_whole_when_its_root_ends(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with logfire.span('fast request'):
        logfire.info('all good')
        logfire.debug('detail')

    assert out.names() == []
    assert (out.processor.buffered_spans, out.processor.buffered_bytes) == (0, 0)


def test_the_level_threshold_counts_the_level_named_and_above(sampled: Configure) -> None:
    out = sampled(logfire.SamplingOptions.level_or_duration(level_threshold='warn'))

    with logfire.span('noticed'):
        logfire.notice('below warn')
    with logfire.span('warned'):
        logfire.warn('at warn')

    assert sorted(out.names()) == ['at warn', 'warned']


def test_an_exception_escaping_a_span_keeps_its_trace(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with pytest.raises(ValueError):
        with logfire.span('job'):
            logfire.info('step')
            raise ValueError('bad input')

    assert sorted(out.names()) == ['job', 'step']


def test_a_trace_running_longer_than_the_duration_is_kept(sampled: Configure) -> None:
    clock = TimeGenerator()  # one second later at each timestamp taken
    out = sampled(logfire.SamplingOptions.level_or_duration(duration_threshold=5), clock=clock)

    with logfire.span('quick'):
        logfire.info('one')
    assert out.names() == []
    with logfire.span('slow'):
        logfire.info('early')
        while not out.names():
            assert clock.ns_time < 20 * 1_000_000_000
            logfire.info('step')
        # Kept at the first event 5 seconds after the trace started, the spans before it included.
        assert out.names()[0] == 'early'
        logfire.info('later')
        assert out.names()[-1] == 'later'

    assert out.names()[-1] == 'slow'


def test_the_background_rate_keeps_a_share_of_other_traces_fixed_by_trace_id(sampled: Configure) -> None:
    def run() -> list[int]:
        out = sampled(logfire.SamplingOptions.level_or_duration(background_rate=0.25))
        for i in range(400):
            with logfire.span('request {i}', i=i):
                logfire.info('fine')
        kept = sorted({span.context.trace_id for span in out.exporter.exported_spans if span.context})
        assert len(out.exporter.exported_spans) == 2 * len(kept)  # whole traces
        return kept

    first = run()
    assert 60 <= len(first) <= 140
    assert run() == first  # the same trace ids again: the draw is fixed by the trace id


def test_a_background_kept_trace_never_waits_in_the_buffer(sampled: Configure) -> None:
    out = sampled(logfire.SamplingOptions.level_or_duration(background_rate=1.0))

    with logfire.span('request'):
        logfire.info('fine')
        assert out.names() == ['fine']
        assert out.processor.max_buffered_spans == 0

    assert out.names() == ['fine', 'request']


def test_spans_of_a_dropped_trace_that_end_after_its_root_are_dropped_too(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with logfire.span('request'):
        background = trace.get_tracer('jobs').start_span('background work')  # not made current
    background.end()
    with logfire.span('request 2'):
        pass

    assert out.names() == []


def test_head_sampling_applies_first(sampled: Configure) -> None:
    out = sampled(logfire.SamplingOptions.level_or_duration(head=0.0, background_rate=1.0))

    with logfire.span('request'):
        logfire.error('boom')

    assert out.names() == []


def test_traces_from_many_threads_are_each_kept_or_dropped_whole(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    def work(worker: int) -> None:
        for i in range(100):
            with logfire.span('request {worker} {i}', worker=worker, i=i):
                logfire.info('one')
                if i % 4 == 0:
                    logfire.error('failed')
                logfire.info('two')

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    by_trace: dict[int, list[str]] = {}
    for span in out.exporter.exported_spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span.name)
    assert len(by_trace) == 8 * 25
    assert all(sorted(names) == ['failed', 'one', 'request {worker} {i}', 'two'] for names in by_trace.values())
    assert (out.processor.buffered_spans, out.processor.buffered_bytes) == (0, 0)


def test_a_custom_tail_callable_sees_each_start_and_end_until_it_keeps_the_trace(sampled: Configure) -> None:
    seen: list[tuple[str, str, str | None, float]] = []

    def tail(info: TailSamplingSpanInfo) -> float:
        seen.append((info.span.name, info.event, info.level.name, info.duration))
        assert info.span.context is not None and info.span.context.trace_id >= 1
        return 1.0 if info.span.name == 'important' else 0.0

    out = sampled(logfire.SamplingOptions(tail=tail), clock=TimeGenerator())
    with logfire.span('root'):
        logfire.warn('a warning')
        with logfire.span('important'):
            logfire.info('not asked: the trace is kept')

    assert sorted(out.names()) == ['a warning', 'important', 'not asked: the trace is kept', 'root']
    assert seen == [
        ('root', 'start', 'info', 0.0),
        ('a warning', 'start', 'warn', 1.0),
        ('a warning', 'end', 'warn', 1.0),
        ('important', 'start', 'info', 2.0),
    ]


def test_a_failing_tail_callable_keeps_the_trace_and_is_reported(
    sampled: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    def tail(info: TailSamplingSpanInfo) -> float:
        raise RuntimeError('bug in the rule')

    out = sampled(logfire.SamplingOptions(tail=tail))
    with logfire.span('request'):
        pass

    assert out.names() == ['request']
    assert 'tail sampling callable' in caplog.text


def test_span_level_compares_with_names_and_numbers() -> None:
    level = SpanLevel(17)
    assert level >= 'error' and level > 'warn' and level == 'error' and level == 17 and level < 'fatal'
    assert level.name == 'error' and SpanLevel(11).name is None and repr(level) == "SpanLevel('error')"
    with pytest.raises(ValueError, match='Unknown level'):
        assert level >= 'loud'


# ---- what stays as it was ---------------------------------------------------------------------------


def test_the_console_still_shows_the_spans_of_dropped_traces(sampled: Configure) -> None:
    console = io.StringIO()
    out = sampled(LEVEL_OR_DURATION, console=console)

    with logfire.span('request'):
        logfire.info('all good')

    assert out.names() == []
    assert console.getvalue() == 'request\n  all good\n'


def test_secrets_are_scrubbed_before_they_are_buffered(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with logfire.span('login'):
        logfire.info('attempt', password='hunter2')
        [buffered] = [trace.ended for trace in out.processor._pending.values()]  # pyright: ignore[reportPrivateUsage]
        assert 'hunter2' not in str([dict(span.attributes or {}) for span in buffered])
        logfire.error('locked out')

    [attempt] = [span for span in out.exporter.exported_spans if span.name == 'attempt']
    assert 'hunter2' not in str(attempt.attributes)


# ---- bounds and exit ----------------------------------------------------------------------------------


def test_a_trace_over_the_per_trace_span_bound_is_dropped_at_once_and_counted_in_a_warning(
    sampled: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    out = sampled(LEVEL_OR_DURATION)

    with caplog.at_level(logging.WARNING, logger='logfire'):
        with logfire.span('huge'):
            for _ in range(MAX_TRACE_SPANS + 1):  # ended spans count; the open root is only referenced
                logfire.info('item')
            assert out.processor.buffered_spans == 0
            logfire.error('too late: the trace was decided')

    assert out.names() == []
    assert out.processor.max_buffered_spans == MAX_TRACE_SPANS
    [warning] = [r.getMessage() for r in caplog.records if 'Tail sampling' in r.getMessage()]
    assert f'1 (over {MAX_TRACE_SPANS:,} spans in one trace)' in warning


def test_a_trace_over_the_per_trace_byte_bound_is_dropped(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)
    big = 'x' * (MAX_TRACE_BYTES // 4)

    with logfire.span('uploads'):
        for _ in range(4):
            logfire.info('chunk', data=big)
        assert out.processor.buffered_bytes == 0
        logfire.error('dropped already')

    assert out.names() == []
    assert 3 * len(big) < out.processor.max_buffered_bytes <= MAX_TRACE_BYTES  # the 4th chunk did not fit


def test_a_hundred_thousand_undecided_spans_stay_within_the_total_bounds(
    sampled: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    out = sampled(LEVEL_OR_DURATION)
    processor = out.processor

    def steps() -> None:
        for _ in range(199):
            logfire.info('step')

    with caplog.at_level(logging.WARNING, logger='logfire'):
        ends = [open_trace(f'request {i}', steps) for i in range(500)]  # 100,000 spans, none decided
        assert processor.max_buffered_spans <= MAX_TOTAL_SPANS
        assert processor.max_buffered_bytes <= MAX_TOTAL_BYTES
        assert processor.buffered_spans > MAX_TOTAL_SPANS - 200
        for end in ends:
            end()

    assert out.names() == []
    assert (processor.buffered_spans, processor.buffered_bytes) == (0, 0)
    assert f'(over {MAX_TOTAL_SPANS:,} spans buffered)' in caplog.text


def test_the_oldest_undecided_trace_is_dropped_when_the_total_byte_bound_is_hit(
    sampled: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    out = sampled(LEVEL_OR_DURATION)
    big = 'x' * (MAX_TRACE_BYTES * 3 // 4)

    with caplog.at_level(logging.WARNING, logger='logfire'):
        ends = [open_trace(f'upload {i}', lambda: logfire.info('chunk', data=big)) for i in range(12)]
        assert out.processor.max_buffered_bytes <= MAX_TOTAL_BYTES
        for end in ends:
            end()

    assert out.names() == []
    assert f'(over {MAX_TOTAL_BYTES:,} bytes buffered)' in caplog.text


def test_a_trace_undecided_for_too_long_is_decided_when_a_new_trace_starts(sampled: Configure) -> None:
    clock = TimeGenerator()
    out = sampled(logfire.SamplingOptions.level_or_duration(duration_threshold=None), clock=clock)

    end = open_trace('stuck', lambda: logfire.info('waiting'))
    clock.ns_time += 61 * 1_000_000_000  # the spans' clock: over a minute later
    assert len(out.processor._pending) == 1  # pyright: ignore[reportPrivateUsage]
    with logfire.span('next request'):
        assert len(out.processor._pending) == 1  # pyright: ignore[reportPrivateUsage]
    end()

    assert out.names() == []


def test_a_trace_past_the_duration_threshold_is_kept_when_it_times_out(sampled: Configure) -> None:
    clock = TimeGenerator()
    out = sampled(logfire.SamplingOptions.level_or_duration(duration_threshold=30), clock=clock)

    end = open_trace('stuck', lambda: logfire.info('waiting'))
    clock.ns_time += 61 * 1_000_000_000
    logfire.info('another trace')

    assert out.names() == ['waiting']
    end()
    assert out.names() == ['waiting', 'stuck']


def test_force_flush_and_shutdown_decide_every_undecided_trace(sampled: Configure) -> None:
    out = sampled(LEVEL_OR_DURATION)

    end = open_trace('in flight', lambda: logfire.info('step'))
    assert out.processor.buffered_spans == 1  # the ended log; the open root is only referenced
    logfire.force_flush()
    assert (out.processor.buffered_spans, out.names()) == (0, [])
    end()
    end = open_trace('at shutdown', lambda: logfire.info('step'))
    logfire.shutdown()
    end()

    assert out.names() == []
    assert out.processor.buffered_spans == 0


def open_trace(name: str, body: Callable[[], object]) -> Callable[[], None]:
    """Start a root span in a context of its own and run `body` in it; returns what ends the span."""

    def run() -> Iterator[None]:
        with logfire.span(name):
            body()
            yield

    steps = run()
    context = contextvars.Context()
    context.run(next, steps)
    return lambda: context.run(next, steps, None)


# ---- invalid options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('sampling', 'named'),
    [
        (
            logfire.SamplingOptions.level_or_duration(background_rate=1.5),
            r'level_or_duration\(background_rate=\.\.\.\)\)=1\.5',
        ),
        (
            logfire.SamplingOptions.level_or_duration(level_threshold='loud'),  # pyright: ignore[reportArgumentType]
            r"level_or_duration\(level_threshold=\.\.\.\)\)='loud'",
        ),
        (
            logfire.SamplingOptions.level_or_duration(duration_threshold=-1),
            r'level_or_duration\(duration_threshold=\.\.\.\)\)=-1',
        ),
        (logfire.SamplingOptions.level_or_duration(head=2), r'SamplingOptions\(head=\.\.\.\)\)=2'),
        (logfire.SamplingOptions(tail='keep errors'), r"SamplingOptions\(tail=\.\.\.\)\)='keep errors'"),  # pyright: ignore[reportArgumentType]
    ],
)
def test_invalid_sampling_options_fail_at_configure_naming_the_field(
    sampling: logfire.SamplingOptions, named: str
) -> None:
    with pytest.raises(LogfireConfigError, match=named) as info:
        logfire.configure(local=True, console=False, send_to_logfire=False, sampling=sampling)
    assert 'Accepted:' in str(info.value)


def test_an_invalid_head_rate_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('LOGFIRE_TRACE_SAMPLE_RATE', '2')
    with pytest.raises(LogfireConfigError, match='LOGFIRE_TRACE_SAMPLE_RATE'):
        logfire.configure(local=True, console=False, send_to_logfire=False)


# ---- over the wire ------------------------------------------------------------------------------------


def wire_env(receiver: OTLPReceiver) -> dict[str, str]:
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_CONSOLE='false',
        OTEL_BSP_SCHEDULE_DELAY='100',
    )


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


EXITING_PROGRAM = textwrap.dedent(
    """
    import contextvars
    import time

    import logfire

    logfire.configure(sampling=logfire.SamplingOptions.level_or_duration(duration_threshold=2))
    left_open = []


    def start(name, log):
        def run():
            with logfire.span(name):
                log(name + ' log')
                yield

        steps, context = run(), contextvars.Context()
        context.run(next, steps)
        left_open.append(steps)  # never finished: its root is ended at exit


    start('failing', logfire.error)  # kept at its error; its root is ended and exported at exit
    start('long', logfire.info)  # undecided until exit, when its root ends over 2 s after it started: kept
    time.sleep(2.1)
    with logfire.span('done'):
        logfire.info('below the level, and fast: dropped')
    start('short', logfire.info)  # undecided until exit, when its root ends well within 2 s: dropped
    """
)


def test_traces_left_undecided_at_exit_are_decided_and_the_kept_ones_exported(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    result = run_python(EXITING_PROGRAM, env=wire_env(receiver), cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    assert sorted(span.name for span in receiver.spans()) == ['failing', 'failing log', 'long', 'long log']


ASGI_APP = textwrap.dedent(
    """
    import logfire

    logfire.configure(sampling=logfire.SamplingOptions.level_or_duration())


    async def app(scope, receive, send):
        with logfire.span('handling {path}', path=scope['path']):
            logfire.info('looked up the order')
        status = 500 if scope['path'] == '/fail' else 200
        await send({'type': 'http.response.start', 'status': status, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'done'})


    app = logfire.instrument_asgi(app)
    """
)


def test_under_uvicorn_a_500_keeps_the_whole_request_and_a_fast_200_exports_nothing(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    (tmp_path / 'main.py').write_text(ASGI_APP)
    with UvicornServer('main:app', cwd=tmp_path, env=wire_env(receiver), uvicorn_args=['--lifespan', 'off']) as server:
        assert httpx.get(f'{server.url}/ok', timeout=5).status_code == 200
        assert httpx.get(f'{server.url}/fail', timeout=5).status_code == 500
        receiver.wait_until(lambda: len({s.trace_id for s in receiver.spans()}) >= 1, description='the 500 trace')
    output = server.stop()  # graceful: logfire flushes at exit, so anything else would have arrived by now

    spans = receiver.spans()
    assert len({span.trace_id for span in spans}) == 1, [s.name for s in spans]
    by_name = {span.name: span for span in spans}
    assert by_name['GET'].attributes['http.status_code'] == 500
    assert {'handling {path}', 'looked up the order'} <= set(by_name)
    assert by_name['handling {path}'].attributes['path'] == '/fail'
    assert 'Traceback' not in output.stderr, output.stderr
