"""What the process shares: the configuration in force and the services every probe uses.

Built once, then handed to the app factory (``app.create_app``), which opens and closes the
CHAOS session around the server's life.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aaisp_multi_exporter.chaos.client import ChaosClient
from aaisp_multi_exporter.chaos.commands import Command, compile_commands
from aaisp_multi_exporter.chaos.errors import Outcome
from aaisp_multi_exporter.chaos.snapshots import SnapshotStore
from aaisp_multi_exporter.config import Config, ConfigError
from aaisp_multi_exporter.obs.metrics import ExporterMetrics
from aaisp_multi_exporter.probe.metrics import RenderedLines, SummaryTexts
from aaisp_multi_exporter.probe.request import QueryParser
from aaisp_multi_exporter.probe.run import ProbeServices
from aaisp_multi_exporter.server.discovery import Discovery
from aaisp_multi_exporter.server.history import DEFAULT_LIMIT, ProbeHistory
from aaisp_multi_exporter.server.rejections import RecentRejections


@dataclass
class ReloadStatus:
    success: bool
    at: float  # Unix time
    error: str | None = None


@dataclass
class ExporterState:
    """Process-wide state: the configuration in force and the services probes share.

    Probes read ``config`` once at their start, so a reload swapping it never changes a
    probe half-way.
    """

    loader: Callable[[], Config]
    services: ProbeServices
    discovery: Discovery
    timeout_offset: float = 0.5
    max_requests: int = 40
    probes_running: int = 0
    config: Config | None = None
    #: Probe requests are read against ``config``; swapped with it.
    parser: QueryParser | None = None
    #: ``config``'s commands, compiled once per load; swapped with it.
    commands: Mapping[str, Command] = field(default_factory=dict)
    last_reload: ReloadStatus | None = None
    started: float = field(default_factory=time.monotonic)
    history: ProbeHistory = field(default_factory=ProbeHistory)
    rejections: RecentRejections = field(default_factory=RecentRejections)
    summary_texts: SummaryTexts = field(default_factory=SummaryTexts)
    rendered_lines: RenderedLines = field(default_factory=RenderedLines)

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
        previous = self.config.commands if self.config is not None else {}
        changed = [name for name in previous if previous[name] != config.commands.get(name)]
        self.config = config
        self.commands = compile_commands(config.commands)
        self.parser = QueryParser(config, self.commands)
        self.last_reload = ReloadStatus(success=True, at=time.time())
        self.metrics.reload_successful.set(1)
        self.metrics.reload_timestamp.set(self.last_reload.at)
        self.metrics.init_modules(config.modules)
        self.metrics.init_commands(self.commands)
        self.discovery.forget_missing(config, self.commands)
        self.services.store.retain(
            ((name, auth.secret_fingerprint()) for name, auth in config.auths.items()),
            changed_commands=changed,
        )
        return config


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
    services = ProbeServices(client=ChaosClient(metrics), store=store, metrics=metrics)
    state = ExporterState(
        loader=loader,
        services=services,
        timeout_offset=timeout_offset,
        max_requests=max_requests,
        discovery=Discovery(services),
        history=ProbeHistory(history_limit),
    )
    # Read when /metrics is scraped, so probes pay no lock for it.
    metrics.in_flight.set_function(lambda: state.probes_running)
    return state
