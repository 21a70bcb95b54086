"""Tail sampling's cost: a request-like trace under `level_or_duration()` against the same under head-only sampling.

Both sides are logfire, configured alike, with the same in-memory processor where the OTLP batch processors sit
(behind the tail-sampling buffer). The trace is a span holding an info log and a notice: the notice keeps the
trace, so the tail side buffers the span's start and the info log, then hands all three on. That is the most
work tail sampling does per span; a dropped trace costs less (its spans are only buffered, then discarded).
"""

from __future__ import annotations

from collections.abc import Callable

import logfire
from logfire._internal.config import build_config
from logfire._internal.providers import build_pipeline
from logfire._internal.settings import load_settings
from logfire._internal.state import LogfireState

from .harness import InMemoryProcessor, Mode, Result, Side, both, expect_logfire_spans, expect_names, interleave

_NAMES = ('request {n}', 'step', 'done')


def _instance(sampling: logfire.SamplingOptions, processor: InMemoryProcessor) -> logfire.Logfire:
    kwargs = {
        'send_to_logfire': False,
        'console': False,
        'metrics': False,
        'trace_sample_rate': sampling.head,
        'sampling_tail': sampling.tail,
    }
    config = build_config(load_settings({k: v for k, v in kwargs.items() if v is not None}))
    state = LogfireState()
    state.swap(config, build_pipeline(config, export_processors=[processor]))
    return logfire.Logfire(state)


def _loop(lf: logfire.Logfire) -> Callable[[int], None]:
    span, info, notice = lf.span, lf.info, lf.notice

    def run(n: int) -> None:
        for _ in range(n):
            with span('request {n}', n=1):
                info('step')
                notice('done')

    return run


def tail_sampling_case(mode: Mode) -> Result:
    ours_processor, baseline_processor = InMemoryProcessor(), InMemoryProcessor()
    ours = _instance(logfire.SamplingOptions.level_or_duration(), ours_processor)
    baseline = _instance(logfire.SamplingOptions(head=1.0), baseline_processor)
    check = both(expect_names(*_NAMES), expect_logfire_spans)
    result = Result(
        name='tail_sampling',
        ours='span + info + notice, level_or_duration() (buffered, then kept at the notice)',
        baseline='the same, head-only sampling',
    )
    interleave(
        Side(_loop(ours), ours_processor, 3, check), Side(_loop(baseline), baseline_processor, 3, check), mode, result
    )
    return result
