"""The ASGI guide's app under a real uvicorn, as its own process, for the served-request benchmark.

    python benchmarks/server.py bare|raw|ours

- `bare`: the app alone.
- `raw`: OpenTelemetry's `OpenTelemetryMiddleware` with the raw SDK: a `TracerProvider` with `BatchSpanProcessor` +
  `OTLPSpanExporter`, and a `MeterProvider` exporting with `OTLPMetricExporter`, as the OTel docs set them up.
  Send/receive spans are dropped (`exclude_spans`), as `logfire.instrument_asgi` does by default.
- `ours`: `logfire.configure(console=False, send_to_logfire=False)` (every other setting its default) and
  `logfire.instrument_asgi(app)`.

Export goes where the standard `OTEL_EXPORTER_OTLP_*` variables say. The server listens on a port of 127.0.0.1
that the OS picks, prints it on the first line of stdout, and exits when its stdin closes.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


async def app(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    """The app of the ASGI guide, unchanged."""
    assert scope['type'] == 'http'
    await send(
        {
            'type': 'http.response.start',
            'status': 200,
            'headers': [(b'content-type', b'text/plain'), (b'content-length', b'13')],
        }
    )
    await send({'type': 'http.response.body', 'body': b'Hello, world!'})


def _raw(inner: Any) -> Any:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # pyright: ignore[reportMissingTypeStubs]
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    return OpenTelemetryMiddleware(
        inner, tracer_provider=tracer_provider, meter_provider=meter_provider, exclude_spans=['send', 'receive']
    )


def _ours(inner: Any) -> Any:
    import logfire

    logfire.configure(console=False, send_to_logfire=False)  # no token: the same as the default
    return logfire.instrument_asgi(inner)


def main() -> None:
    variant = sys.argv[1]
    wrap: dict[str, Callable[[Any], Any]] = {'bare': lambda inner: inner, 'raw': _raw, 'ours': _ours}
    served = wrap[variant](app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.bind(('127.0.0.1', 0))
    sock.listen(2048)  # connections wait in the backlog until uvicorn runs
    print(sock.getsockname()[1], flush=True)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    config = uvicorn.Config(served, log_level='warning', access_log=False, lifespan='off')
    uvicorn.Server(config).run(sockets=[sock])


def _exit_with_parent() -> None:
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    os.kill(os.getpid(), signal.SIGTERM)  # a normal shutdown, so each side's exit flush runs as it would in production


if __name__ == '__main__':
    main()
