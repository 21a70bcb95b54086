"""Sampling options and what a tail-sampling callable is given.

```python
import logfire
from logfire.sampling import TailSamplingSpanInfo


def keep_errors_and_checkout(info: TailSamplingSpanInfo) -> float:
    if info.level >= 'error' or info.span.name.startswith('checkout'):
        return 1.0
    return 0.05


logfire.configure(console=False, sampling=logfire.SamplingOptions(tail=keep_errors_and_checkout))
```
"""

from __future__ import annotations

from ._internal.options import SamplingOptions
from ._internal.sampling import SpanLevel, TailSamplingSpanInfo

__all__ = ['SamplingOptions', 'SpanLevel', 'TailSamplingSpanInfo']
