"""Span and log calls: logfire's API against the raw SDK making the same spans, with the same processor.

Ours runs with default settings (scrubbing and `inspect_arguments` on) and the console off; the baseline is a
plain SDK `TracerProvider`. Both hand every span to an identical `InMemoryProcessor`.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

import logfire

from .harness import (
    InMemoryProcessor,
    Mode,
    Result,
    Side,
    both,
    expect_logfire_spans,
    expect_names,
    expect_nested,
    interleave,
)

_ITEMS = ['apple', 'pear']
_META = {'source': 'web', 'retries': 2}
_ITEMS_JSON = '["apple","pear"]'
_META_JSON = '{"source":"web","retries":2}'


def _pipelines() -> tuple[logfire.Logfire, InMemoryProcessor, Tracer, InMemoryProcessor]:
    ours_processor = InMemoryProcessor()
    ours = logfire.configure(
        local=True, console=False, send_to_logfire=False, additional_span_processors=[ours_processor]
    )
    baseline_processor = InMemoryProcessor()
    provider = TracerProvider()
    provider.add_span_processor(baseline_processor)
    return ours, ours_processor, provider.get_tracer('benchmark'), baseline_processor


def _run(
    result: Result,
    mode: Mode,
    ours: tuple[Callable[[int], None], InMemoryProcessor],
    baseline: tuple[Callable[[int], None], InMemoryProcessor],
    names: tuple[str, ...],
    nested: tuple[str, str] | None = None,
) -> Result:
    shape = expect_names(*names) if nested is None else both(expect_names(*names), expect_nested(*nested))
    ours_side = Side(ours[0], ours[1], len(names), both(shape, expect_logfire_spans))
    baseline_side = Side(baseline[0], baseline[1], len(names), shape)
    interleave(ours_side, baseline_side, mode, result)
    return result


def log_case(mode: Mode) -> Result:
    lf, ours_processor, tracer, baseline_processor = _pipelines()
    info = lf.info

    def ours(n: int) -> None:
        for _ in range(n):
            info('hello {name}', name='x')

    def baseline(n: int) -> None:
        for _ in range(n):
            tracer.start_span('hello {name}', attributes={'name': 'x'}).end()

    result = Result(
        name='log',
        ours="logfire.info('hello {name}', name='x')",
        baseline='raw SDK span with 1 attribute',
    )
    return _run(result, mode, (ours, ours_processor), (baseline, baseline_processor), ('hello {name}',))


def span_case(mode: Mode) -> Result:
    lf, ours_processor, tracer, baseline_processor = _pipelines()
    span = lf.span

    def ours(n: int) -> None:
        for _ in range(n):
            with span('work {n}', n=1):
                pass

    def baseline(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span('work {n}', attributes={'n': 1}):
                pass

    result = Result(
        name='span',
        ours="with logfire.span('work {n}', n=1): pass",
        baseline='raw SDK start_as_current_span with 1 attribute',
    )
    return _run(result, mode, (ours, ours_processor), (baseline, baseline_processor), ('work {n}',))


def five_attributes_case(mode: Mode) -> Result:
    lf, ours_processor, tracer, baseline_processor = _pipelines()
    span = lf.span

    def ours(n: int) -> None:
        for _ in range(n):
            with span('order {order_id}', order_id=1, user='ada', total=9.5, items=_ITEMS, meta=_META):
                pass

    def baseline(n: int) -> None:
        for _ in range(n):
            attributes = {'order_id': 1, 'user': 'ada', 'total': 9.5, 'items': _ITEMS_JSON, 'meta': _META_JSON}
            with tracer.start_as_current_span('order {order_id}', attributes=attributes):
                pass

    result = Result(
        name='span_5_attributes',
        ours='span with 5 attributes incl. a dict and a list',
        baseline='raw SDK span, same 5 attributes, dict/list pre-serialised as JSON',
    )
    return _run(result, mode, (ours, ours_processor), (baseline, baseline_processor), ('order {order_id}',))


def nested_case(mode: Mode) -> Result:
    lf, ours_processor, tracer, baseline_processor = _pipelines()
    span, info = lf.span, lf.info

    def ours(n: int) -> None:
        for _ in range(n):
            with span('outer {n}', n=1):
                info('inner {n}', n=2)

    def baseline(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span('outer {n}', attributes={'n': 1}):
                tracer.start_span('inner {n}', attributes={'n': 2}).end()

    result = Result(
        name='nested',
        ours='nested span + log',
        baseline='raw SDK nested pair',
    )
    names = ('outer {n}', 'inner {n}')
    return _run(result, mode, (ours, ours_processor), (baseline, baseline_processor), names, nested=names)


def logging_case(mode: Mode) -> Result:
    """The stdlib `logging` bridge against a direct `logfire.info`, both into logfire pipelines (same settings)."""
    import logging

    lf, ours_processor, _, _ = _pipelines()
    direct, direct_processor, _, _ = _pipelines()
    root = logging.getLogger()
    handler = logfire.LogfireLoggingHandler(logfire_instance=lf)
    previous_level, previous_handlers = root.level, root.handlers[:]
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    log_info, info = root.info, direct.info

    def ours(n: int) -> None:
        for _ in range(n):
            log_info('x %s', 1)

    def baseline(n: int) -> None:
        for _ in range(n):
            info('x {a}', a=1)

    result = Result(
        name='logging_handler',
        ours="logging.getLogger().info('x %s', 1) through LogfireLoggingHandler",
        baseline="logfire.info('x {a}', a=1)",
    )
    try:
        ours_side = Side(ours, ours_processor, 1, both(expect_names('x %s'), expect_logfire_spans))
        baseline_side = Side(baseline, direct_processor, 1, both(expect_names('x {a}'), expect_logfire_spans))
        interleave(ours_side, baseline_side, mode, result)
    finally:
        root.handlers[:] = previous_handlers
        root.setLevel(previous_level)
    return result
