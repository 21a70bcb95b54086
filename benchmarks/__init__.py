"""Benchmarks: logfire against the raw OpenTelemetry SDK, measured side by side in the same run.

Run them with `make bench` (or `python -m benchmarks.run`); see `docs/performance.md`.
"""
