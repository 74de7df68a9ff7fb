"""Prometheus HTTP service discovery from CHAOS: every line of every credential set.

Built on the probes' own snapshots (``broadband/info`` in account scope), so discovery and
probing share CHAOS calls; a credential set whose call fails keeps its last good list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from aaisp_multi_exporter.config import AuthConfig, Config, ModuleConfig
from aaisp_multi_exporter.logsetup import fields
from aaisp_multi_exporter.probe import ProbeServices
from aaisp_multi_exporter.probelog import ProbeLog
from aaisp_multi_exporter.records import ParsedReply
from aaisp_multi_exporter.snapshots import FetchOutcome, SnapshotKey

LOGGER = logging.getLogger("aaisp_multi_exporter.discovery")
COMMAND = "broadband/info"
#: Used when no module says how long broadband/info answers may be kept or waited for.
DEFAULT_CACHE_SECONDS = 60.0
DEFAULT_TIMEOUT_SECONDS = 30.0


class TargetGroup(TypedDict):
    """One entry of Prometheus' HTTP SD JSON."""

    targets: list[str]
    labels: dict[str, str]


def target_groups(auth: str, reply: ParsedReply) -> list[TargetGroup]:
    """One group per line, so each line's labels travel with it (pure)."""
    groups: list[TargetGroup] = []
    for record in reply.lines.values():
        labels = {"__param_auth": auth, "__meta_aaisp_auth": auth}
        if record.login is not None:
            labels["__meta_aaisp_login"] = record.login
        if record.postcode is not None:
            labels["__meta_aaisp_postcode"] = record.postcode
        groups.append({"targets": [record.line_id], "labels": labels})
    return groups


def _info_modules(config: Config, auth: AuthConfig) -> list[ModuleConfig]:
    """Modules whose answers discovery can share: broadband/info in account scope."""
    return [
        module
        for module in config.modules.values()
        if COMMAND in module.commands
        and module.scope == "account"
        and (module.auth in (None, auth.name))
    ]


@dataclass
class Discovery:
    """Keeps each credential set's last good list; bounded by the number of credential sets."""

    services: ProbeServices
    last_good: dict[tuple[str, str], list[TargetGroup]] = field(default_factory=dict)

    async def discover(
        self, config: Config, auths: Sequence[AuthConfig], module: str | None
    ) -> list[TargetGroup]:
        results = await asyncio.gather(*(self._for_auth(config, auth) for auth in auths))
        groups = [group for result in results for group in result]
        if module is None:
            return groups
        return [
            {"targets": group["targets"], "labels": {**group["labels"], "__param_module": module}}
            for group in groups
        ]

    async def _for_auth(self, config: Config, auth: AuthConfig) -> list[TargetGroup]:
        fingerprint = auth.secret_fingerprint()
        sharing = _info_modules(config, auth)
        cache_seconds = max((m.cache_seconds for m in sharing), default=DEFAULT_CACHE_SECONDS)
        timeout = (
            max((m.timeout_seconds for m in sharing if m.timeout_seconds), default=None)
            or DEFAULT_TIMEOUT_SECONDS
        )
        retries = max((m.retries for m in sharing), default=2)
        key = SnapshotKey(auth.name, fingerprint, COMMAND, "account", "")
        log = ProbeLog(auth=auth.name, purpose="discovery")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def fetch() -> FetchOutcome:
            return await self.services.client.fetch(
                config.chaos.url,
                COMMAND,
                auth,
                service=None,
                retries=retries,
                deadline=deadline,
                log=log,
            )

        try:
            async with asyncio.timeout_at(deadline):
                snapshot, how = await self.services.store.get(key, fetch, cache_seconds)
        except TimeoutError:
            reason = "no answer from CHAOS before the discovery deadline"
        else:
            self.services.metrics.snapshot_lookups.labels(how.value).inc()
            if snapshot.reply is not None:
                groups = target_groups(auth.name, snapshot.reply)
                self.last_good[(auth.name, fingerprint)] = groups
                return groups
            reason = str(snapshot.error)
        stale = self.last_good.get((auth.name, fingerprint))
        if stale is None:
            LOGGER.warning(
                "discovery failed; credential set left out until CHAOS answers",
                extra=fields(auth=auth.name, reason=reason),
            )
            return []
        LOGGER.warning(
            "discovery failed; serving the last good list",
            extra=fields(auth=auth.name, reason=reason, lines=len(stale)),
        )
        return stale

    def forget_missing(self, config: Config) -> None:
        """Drop lists of credential sets a reload removed or changed, keeping memory bounded."""
        live = {(name, auth.secret_fingerprint()) for name, auth in config.auths.items()}
        for key in list(self.last_good):
            if key not in live:
                del self.last_good[key]
