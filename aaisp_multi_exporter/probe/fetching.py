"""The one way to a snapshot, for probes and discovery alike: its key, and the CHAOS call
behind it.

A ``Fetcher`` is built once per configuration load (``server/state.py``), holding the CHAOS
URL of that configuration, so a reload swaps it in one statement and nothing else carries the
URL. It builds every ``SnapshotKey`` (credential set and the fingerprint of its secrets,
command and ``Command.digest``, scope, service) and starts every fetch: the module's retries,
the caller's deadline and log; a refresh ahead with a deadline and log of its own.
docs/design.md ("The probe path", "Snapshots") tells the rules.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import NamedTuple

from aaisp_multi_exporter.chaos.client import CallLog, ChaosClient
from aaisp_multi_exporter.chaos.commands import Command
from aaisp_multi_exporter.chaos.replies import Reply
from aaisp_multi_exporter.chaos.snapshots import (
    Call,
    Lookup,
    Policy,
    Served,
    SnapshotKey,
    SnapshotStore,
)
from aaisp_multi_exporter.config import AuthConfig
from aaisp_multi_exporter.probe.log import ProbeLog

#: A background refresh's deadline when the module sets no timeout_seconds.
REFRESH_TIMEOUT_SECONDS = 30.0


class Wanted(NamedTuple):
    """A snapshot someone needs, and how the CHAOS call behind it is made."""

    key: SnapshotKey
    command: Command
    auth: AuthConfig
    policy: Policy
    retries: int
    #: A refresh ahead's own deadline, in seconds from its start (no probe waits for it).
    refresh_timeout: float


@dataclass(frozen=True, slots=True)
class Fetcher:
    """Keys and fetches for one configuration's CHAOS URL, over the process's store."""

    client: ChaosClient
    store: SnapshotStore
    chaos_url: str

    @staticmethod
    def want(
        auth: AuthConfig,
        command: Command,
        policy: Policy,
        scope: str,
        service: str,
        retries: int,
        timeout_seconds: float | None,
    ) -> Wanted:
        """The snapshot of ``command`` for ``auth``: the only place a key is built, so a
        changed secret or declaration never reuses a reply (docs/design.md, Snapshots)."""
        key = SnapshotKey(
            auth.name, auth.secret_fingerprint(), command.name, scope, service, command.digest
        )
        refresh_timeout = timeout_seconds or REFRESH_TIMEOUT_SECONDS
        return Wanted(key, command, auth, policy, retries, refresh_timeout)

    def lookup(self, wanted: Wanted) -> Served | None:
        """What can be served at once (``SnapshotStore.lookup``), starting a refresh ahead
        when the policy says so; None when the caller must call CHAOS."""
        refresh = functools.partial(self._refresh, wanted)
        return self.store.lookup(wanted.key, wanted.policy, refresh)

    def calling(self, wanted: Wanted) -> bool:
        """Whether its call is in flight: a probe needing it would only wait."""
        return self.store.calling(wanted.key)

    def call(self, wanted: Wanted, until: float, log: CallLog) -> tuple[Call, Lookup]:
        """Join the call in flight, or start it ending by ``until`` (loop time); synchronous,
        counted as waited for until ``SnapshotStore.wait`` ends."""
        fetch = functools.partial(self._fetch, wanted, until, log)
        return self.store.call(wanted.key, fetch, wanted.policy)

    async def get(self, wanted: Wanted, until: float, log: CallLog) -> Served:
        """A served snapshot, or the call's once it ends: the lookup, then the call."""
        found = self.lookup(wanted)
        if found is not None:
            return found
        call, how = self.call(wanted, until, log)
        return await self.store.wait(call, how)

    async def _fetch(self, wanted: Wanted, until: float, log: CallLog) -> Reply:
        """The CHAOS call behind a snapshot, with the module's retries, ending by ``until``."""
        return await self.client.fetch(
            self.chaos_url,
            wanted.command,
            wanted.auth,
            service=wanted.key.service or None,
            retries=wanted.retries,
            deadline=until,
            log=log,
        )

    async def _refresh(self, wanted: Wanted) -> Reply:
        """A refresh no probe waits for: its own deadline and log."""
        until = asyncio.get_running_loop().time() + wanted.refresh_timeout
        log = ProbeLog(auth=wanted.auth.name, command=wanted.command.name, purpose="refresh ahead")
        return await self._fetch(wanted, until, log)
