"""Typed `instrument_*` facades: a docstring and a one-line delegate to the integration registry each."""

from __future__ import annotations


class InstrumentMethods:
    """Mixin of `Logfire` holding one method per integration."""
