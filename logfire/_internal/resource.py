"""The OTel resource every span and metric carries: who sent it, from which process, host and runtime."""

from __future__ import annotations

import os
import platform
import socket
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import OsResourceDetector, ProcessResourceDetector, Resource, ResourceDetector

from ..version import VERSION
from .errors import handle_internal_errors

if TYPE_CHECKING:
    from .config import LogfireConfig


class HostResourceDetector(ResourceDetector):
    """`host.name` and `host.arch`, as the SDK's own host detector (private, so not used) would detect them."""

    def detect(self) -> Resource:
        """The host's name and machine architecture."""
        return Resource({'host.name': socket.gethostname(), 'host.arch': platform.machine()})


def default_resource_detectors() -> list[ResourceDetector]:
    """The detectors run when `AdvancedOptions(resource_detectors=...)` is not given: process, OS and host.

    Each is cheap (no network, no subprocess); the process detector leaves out the command-line arguments,
    which may hold secrets.
    """
    return [ProcessResourceDetector(), OsResourceDetector(), HostResourceDetector()]


def detect(detectors: Sequence[ResourceDetector]) -> Resource:
    """Run `detectors` in order (a later one wins a clash), each failure reported and contained."""
    detected = Resource.get_empty()
    for detector in detectors:
        with handle_internal_errors(f'{type(detector).__name__}.detect'):
            detected = detected.merge(detector.detect())
    return detected


def build_resource(config: LogfireConfig) -> Resource:
    """The resource of a pipeline, from what the detectors found and the settings.

    From lowest to highest precedence: the detectors, OTel's `telemetry.sdk.*` and `OTEL_RESOURCE_ATTRIBUTES`, the
    `resource_attributes` setting, then the dedicated settings (`service_name`, ...).
    """
    settings = config.settings
    detectors = settings.resource_detectors
    detected = detect(default_resource_detectors() if detectors is None else detectors)
    attributes: dict[str, str | int] = dict(settings.resource_attributes)
    attributes['service.instance.id'] = uuid.uuid4().hex
    attributes['process.pid'] = os.getpid()
    if settings.service_name:
        attributes['service.name'] = settings.service_name
    if settings.service_version:
        attributes['service.version'] = settings.service_version
    if settings.environment:
        attributes['deployment.environment.name'] = settings.environment
    attributes['logfire.version'] = VERSION
    attributes['logfire.sdk.version'] = VERSION
    # Resource.create adds telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES and the unknown_service default.
    return detected.merge(Resource.create(attributes))
