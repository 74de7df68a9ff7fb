"""Reloads the process starts itself: on SIGHUP, and with ``--config.enable-auto-reload``
when the configuration's files change (blackbox_exporter's flag).

Both go through ``ExporterState.reload``, as ``POST /-/reload`` does: the new configuration is
loaded and checked whole, and a failure keeps the running one (with
``aaisp_exporter_config_last_reload_successful`` 0 until a reload succeeds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from aaisp_multi_exporter.config import Config, ConfigError
from aaisp_multi_exporter.config.watch import checksum, secret_files
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.server.state import ExporterState

LOGGER = logging.getLogger("aaisp_multi_exporter")
#: How the auto-reload's log lines name it, beside "on SIGHUP".
ON_CHANGE = "after its files changed"


def reload_logged(state: ExporterState, how: str) -> Config | None:
    """Reload, and say how it went; None when it failed and the running one stays."""
    try:
        config = state.reload()
    except ConfigError as error:
        LOGGER.error(
            f"reload {how} failed; keeping the running configuration",
            extra=fields(error=str(error)),
        )
        return None
    LOGGER.info(f"configuration reloaded {how}", extra=fields(modules=len(config.modules)))
    return config


def auto_reload(
    state: ExporterState, patterns: Sequence[str], interval: float
) -> Coroutine[Any, Any, None]:
    """The task of ``--config.enable-auto-reload``: every ``interval`` seconds, checksum the
    configuration files (globs expanded again) and the secret files they name, and reload
    when that changed. The first checksum is taken now, just after the configuration in force
    was loaded, so a change made as soon as the exporter listens is not taken for the start.

    A failed reload is not tried again for the same contents: the next change is. Later
    checksums are made in a thread, so a slow disk never holds up a probe."""
    files = list(patterns)
    return _watch(state, files, interval, checksum(files, state.config))


async def _watch(state: ExporterState, files: list[str], interval: float, seen: str) -> None:
    while True:
        await asyncio.sleep(interval)
        before = state.config
        now = await asyncio.to_thread(checksum, files, before)
        if now == seen:
            continue
        seen = now
        LOGGER.info("configuration files changed; reloading")
        config = reload_logged(state, ON_CHANGE)
        if (
            config is not None
            and before is not None
            and secret_files(config) != secret_files(before)
        ):
            # The files to watch changed with it (a set added, a path moved).
            seen = await asyncio.to_thread(checksum, files, config)
