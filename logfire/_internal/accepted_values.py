"""What each setting accepts, in words: read by `LogfireConfigError` messages and the configuration reference."""

from __future__ import annotations

from .constants import LEVEL_NUMBERS

_BOOL = 'true, false, 1 or 0'
ACCEPTED_VALUES: dict[str, str] = {
    'send_to_logfire': f"{_BOOL}, or 'if-token-present'",
    'console': _BOOL,
    'console_colors': "'auto', 'always' or 'never'",
    'console_span_style': "'simple', 'indented' or 'show-parents'",
    'console_include_timestamp': _BOOL,
    'console_include_tags': _BOOL,
    'console_verbose': _BOOL,
    'console_show_span_end': _BOOL,
    'console_min_log_level': ', '.join(repr(n) for n in LEVEL_NUMBERS),
    'min_level': ', '.join(repr(n) for n in LEVEL_NUMBERS) + ', or a level number',
    'trace_sample_rate': 'a number from 0.0 to 1.0',
    'distributed_tracing': _BOOL,
    'inspect_arguments': _BOOL,
    'thread_pool_context': _BOOL,
    'metrics': _BOOL,
    'scrubbing': _BOOL,
    'resource_attributes': 'comma-separated key=value pairs',
    'otlp_protocol': "'http/protobuf' or 'grpc'",
    'retry_queue_max_bytes': 'a whole number of bytes >= 0',
    'shutdown_timeout_millis': 'a whole number of milliseconds >= 0',
    'otlp_compression': "'gzip', 'deflate' or 'none'",
    'otlp_headers': 'comma-separated key=value pairs',
    'otlp_traces_headers': 'comma-separated key=value pairs',
    'otlp_metrics_headers': 'comma-separated key=value pairs',
    'otlp_logs_headers': 'comma-separated key=value pairs',
    'otlp_timeout': 'a number of seconds > 0',
    'bsp_schedule_delay_millis': 'a whole number of milliseconds >= 0',
    'bsp_max_queue_size': 'a whole number >= 1',
    'bsp_max_export_batch_size': 'a whole number >= 1',
    'bsp_export_timeout_millis': 'a whole number of milliseconds >= 0',
    'scrubbing_patterns': 'a list of regular expressions (comma-separated in the environment)',
    'additional_span_processors': 'a list of OpenTelemetry SpanProcessor instances, such as BatchSpanProcessor',
    'metric_readers': 'a list of OpenTelemetry MetricReader instances',
    'metric_views': 'a list of OpenTelemetry metric View instances, e.g. [*MetricsOptions.DEFAULT_VIEWS, View(...)]',
    'metrics_collect_in_spans': 'true or false',
    'resource_detectors': 'a list of OpenTelemetry ResourceDetector instances, e.g. OsResourceDetector()',
    'id_generator': 'an OpenTelemetry IdGenerator, e.g. RandomIdGenerator()',
    'config_dir': 'a directory path (a str or an os.PathLike such as pathlib.Path)',
    'data_dir': 'a directory path (a str or an os.PathLike such as pathlib.Path)',
    'console_output': 'a text stream such as sys.stderr or io.StringIO(), or None for sys.stdout',
}
