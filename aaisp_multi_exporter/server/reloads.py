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
#: What a reload's log lines say, by what started it: when it worked, and when it failed.
ON_SIGHUP = (
    "configuration reloaded on SIGHUP",
    "reload on SIGHUP failed; keeping the running configuration",
)
ON_CHANGE = (
    "configuration reloaded after its files changed",
    "reload after its files changed failed; keeping the running configuration",
)


def reload_logged(state: ExporterState, lines: tuple[str, str]) -> Config | None:
    """Reload, and say how it went (``ON_SIGHUP``, ``ON_CHANGE``); None when it failed and
    the running configuration stays."""
    reloaded, failed = lines
    try:
        config = state.reload()
    except ConfigError as error:
        LOGGER.error(failed, extra=fields(error=str(error)))
        return None
    LOGGER.info(reloaded, extra=fields(modules=len(config.modules)))
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
    return _watch(state, files, interval, checksum(files, _config(state)))


async def _watch(state: ExporterState, files: list[str], interval: float, seen: str) -> None:
    while True:
        await asyncio.sleep(interval)
        before = _config(state)
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


def _config(state: ExporterState) -> Config | None:
    loaded = state.loaded
    return loaded.config if loaded is not None else None
