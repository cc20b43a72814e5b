"""The pause before an MQTT client connects again (the station's uplink, the plant's
collector, the web view's Sparkplug feed): capped exponential backoff with jitter, so
that stations cut off together do not come back together."""

from __future__ import annotations

import asyncio
import random


async def reconnect_pause(failures: int, low_s: float, high_s: float) -> None:
    """Wait `low_s` doubled per failure, at most `high_s`, times a random half to one."""
    delay = min(high_s, low_s * 2**failures)
    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
