"""What the process shares: the configuration in force and the services every probe uses.

Built once, then handed to the app factory (``app.create_app``), which opens and closes the
CHAOS session around the server's life.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aaisp_multi_exporter.chaos.client import ChaosClient
from aaisp_multi_exporter.chaos.commands import INFO, Command, compile_commands
from aaisp_multi_exporter.chaos.errors import Outcome
from aaisp_multi_exporter.chaos.snapshots import SnapshotStore
from aaisp_multi_exporter.config import Config, ConfigError
from aaisp_multi_exporter.config.watch import restart_bound
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.obs.metrics import ExporterMetrics
from aaisp_multi_exporter.probe.fetching import Fetcher
from aaisp_multi_exporter.probe.render import Renderer
from aaisp_multi_exporter.probe.request import QueryParser
from aaisp_multi_exporter.probe.run import ProbeServices
from aaisp_multi_exporter.probe.slots import ProbeSlots
from aaisp_multi_exporter.server.discovery import Discovery
from aaisp_multi_exporter.server.history import DEFAULT_LIMIT, ProbeHistory
from aaisp_multi_exporter.server.rejections import RecentRejections

LOGGER = logging.getLogger("aaisp_multi_exporter")


@dataclass
class ReloadStatus:
    success: bool
    at: float  # Unix time
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded configuration and what is made from it, built whole before it is used.

    A reload builds a new one and swaps it in one assignment (blackbox_exporter's
    ``SafeConfig``): whoever reads ``ExporterState.loaded`` once sees the configuration, its
    commands and its query parser of the same load, never a mix of two.
    """

    config: Config
    #: ``config``'s commands, compiled once per load.
    commands: Mapping[str, Command]
    #: Probe requests are read against ``config``.
    parser: QueryParser
    #: The way to ``config``'s snapshots (its CHAOS URL), for probes and discovery.
    fetcher: Fetcher

    @classmethod
    def of(cls, config: Config, services: ProbeServices) -> Loaded:
        commands = compile_commands(config.commands)
        fetcher = Fetcher(services.client, services.store, config.chaos.url)
        return cls(config, commands, QueryParser(config, commands), fetcher)


@dataclass
class ExporterState:
    """Process-wide state: the configuration in force and the services probes share.

    Probes and pages read ``loaded`` once at their start, so a reload swapping it never
    changes one half-way.
    """

    loader: Callable[[], Config]
    services: ProbeServices
    discovery: Discovery
    timeout_offset: float = 0.5
    #: The configuration in force; None until one loads.
    loaded: Loaded | None = None
    last_reload: ReloadStatus | None = None
    started: float = field(default_factory=time.monotonic)
    history: ProbeHistory = field(default_factory=ProbeHistory)
    rejections: RecentRejections = field(default_factory=RecentRejections)
    #: Kept across reloads: what it keeps is keyed by declaration and reply, not by name.
    renderer: Renderer = field(default_factory=Renderer)

    @property
    def metrics(self) -> ExporterMetrics:
        return self.services.metrics

    def reload(self) -> Config:
        """Load and validate fully, then swap; on failure the running config stays."""
        try:
            config = self.loader()
        except ConfigError as error:
            self.last_reload = ReloadStatus(success=False, at=time.time(), error=str(error))
            self.metrics.reload_successful.set(0)
            raise
        loaded = Loaded.of(config, self.services)
        before = self.loaded
        previous = before.config.commands if before is not None else {}
        changed = [name for name in previous if previous[name] != config.commands.get(name)]
        self.services.client.use_proxy(config.chaos.proxy)
        self.loaded = loaded
        self.last_reload = ReloadStatus(success=True, at=time.time())
        self.metrics.reload_successful.set(1)
        self.metrics.reload_timestamp.set(self.last_reload.at)
        self.metrics.init_modules(config.modules)
        self.metrics.init_chaos(config.auths, called_commands(config))
        self.discovery.forget_missing(config, loaded.commands)
        self.services.store.retain(
            ((name, auth.secret_fingerprint()) for name, auth in config.auths.items()),
            changed_commands=changed,
        )
        if before is not None:
            log_restart_bound(config)
        return config


def called_commands(config: Config) -> list[str]:
    """The commands a probe or ``/discover`` can call: the modules', and ``broadband/info``,
    with which discovery lists a credential set's lines. Every credential set can call each
    (``auth=`` picks the set for any module), so these are the pairs ``/metrics`` shows."""
    names = {name for module in config.modules.values() for name in module.commands}
    return sorted(names | {INFO.name})


def log_restart_bound(config: Config) -> None:
    """After a reload, say which values it could not have changed (``config/watch.py``):
    an operator who fixed a password there and reloaded must know to restart."""
    for bound in restart_bound(config):
        LOGGER.info(
            "a reload cannot change these values; restart the exporter to apply a new one",
            extra=fields(table=bound.table, keys=",".join(bound.keys), why=bound.why),
        )


def build_state(
    loader: Callable[[], Config],
    *,
    timeout_offset: float = 0.5,
    max_requests: int = 40,
    history_limit: int = DEFAULT_LIMIT,
    store: SnapshotStore | None = None,
) -> ExporterState:
    """Wire the shared services; the caller loads the first configuration with ``reload``.

    The CHAOS client's session is opened by the app (``create_app``), not here, so a state
    whose configuration fails to load has nothing to close.
    """
    metrics = ExporterMetrics(chaos_outcomes=[outcome.value for outcome in Outcome])
    if store is None:
        store = SnapshotStore()
    slots = ProbeSlots(limit=max_requests)
    client = ChaosClient(metrics)
    services = ProbeServices(client=client, store=store, metrics=metrics, slots=slots)
    state = ExporterState(
        loader=loader,
        services=services,
        timeout_offset=timeout_offset,
        discovery=Discovery(services),
        history=ProbeHistory(history_limit),
    )
    # Read when /metrics is scraped, so probes pay no lock for it.
    metrics.in_flight.set_function(lambda: slots.in_flight)
    return state
