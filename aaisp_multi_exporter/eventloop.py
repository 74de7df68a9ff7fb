"""The process's event loop: uvloop where it is installed, else asyncio's own.

uvloop is a well-kept libuv loop that aiohttp supports, cheaper per request than asyncio's
own (socket writes, callbacks, timers). Where it cannot install (another platform or
interpreter), the standard loop runs the same code; ``AAISP_EXPORTER_EVENT_LOOP=asyncio``
chooses it explicitly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "AAISP_EXPORTER_EVENT_LOOP"

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory() -> tuple[str, LoopFactory | None]:
    """The loop's name and factory (None: asyncio's default)."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return "asyncio", None
    try:
        import uvloop  # noqa: PLC0415 - optional: absent where it cannot install
    except ImportError:
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    _, factory = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
