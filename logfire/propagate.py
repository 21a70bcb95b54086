"""Carry the trace context across boundaries logfire cannot see: queues, subprocesses, process pools.

`get_context()` gives the current context as a plain dict of strings (W3C `traceparent`, plus whatever
else the global propagator writes), which pickles and serialises as JSON; `attach_context()` makes such a
dict current on the other side, so spans made there join the trace.

```python
import queue
import threading

import logfire
from logfire.propagate import attach_context, get_context

logfire.configure()
jobs = queue.Queue()


def consume():
    carrier, n = jobs.get()
    with attach_context(carrier):
        logfire.info('processing {n}', n=n)  # a child of the `produce` span


with logfire.span('produce'):
    jobs.put((get_context(), 1))
consumer = threading.Thread(target=consume)
consumer.start()
consumer.join()
```
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate
from opentelemetry.propagators.textmap import TextMapPropagator

from ._internal.propagation import DistributedTracingPropagator

__all__ = ['ContextCarrier', 'attach_context', 'get_context']

ContextCarrier = Mapping[str, Any]
"""What `get_context()` returns and `attach_context()` takes: header names to values."""


def get_context() -> ContextCarrier:
    """Return the current trace context as a plain dict, to hand to another thread, process or service.

    The global OpenTelemetry propagator writes it (W3C `traceparent` and `tracestate`, and `baggage`, by
    default). Outside any span the dict is empty, and `attach_context()` of it starts new traces.

    Returns:
        A new `dict[str, str]`, safe to pickle or send as JSON or as HTTP headers.

    Example:
        ```python
        import logfire
        from logfire.propagate import get_context

        logfire.configure()
        with logfire.span('enqueue'):
            message = {'body': 'hello', 'trace_context': get_context()}
        ```
    """
    carrier: dict[str, Any] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def attach_context(
    carrier: ContextCarrier, *, third_party: bool = False, propagator: TextMapPropagator | None = None
) -> Generator[None, None, None]:
    """Make the trace context in `carrier` current for the `with` block, then restore the previous one.

    Args:
        carrier: What `get_context()` returned, possibly in another process.
        third_party: Whether the carrier comes from outside your system (an incoming request). Then the
            `distributed_tracing` setting applies, as it does to instrumented servers: `False` ignores the
            carrier, and unset joins but warns once. By default the carrier is trusted as your own.
        propagator: Read the carrier with this propagator instead of the global one.

    Example:
        ```python
        import logfire
        from logfire.propagate import attach_context, get_context

        logfire.configure()
        with logfire.span('producer'):
            carrier = get_context()

        with attach_context(carrier):
            logfire.info('a child of the producer span')
        ```
    """
    if propagator is None:
        propagator = propagate.get_global_textmap()
        if not third_party and isinstance(propagator, DistributedTracingPropagator):
            propagator = propagator.wrapped
    token = context_api.attach(propagator.extract(carrier=carrier))
    try:
        yield
    finally:
        context_api.detach(token)
