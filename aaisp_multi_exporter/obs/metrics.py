"""The exporter's own metrics for ``/metrics``: fixed cardinality, never a target label.

A leaf any layer may use: the label values it pre-creates (CHAOS outcomes, credential sets,
commands, modules) are handed in by whoever knows them, so nothing here imports another layer.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from aaisp_multi_exporter import __version__

#: Why a probe request was turned away before it ran (the ``reason`` label).
REJECT_REASONS = (
    "missing_target",
    "invalid_target",
    "missing_module",
    "unknown_module",
    "missing_auth",
    "unknown_auth",
    "invalid_parameter",
    "invalid_timeout_header",
    "too_many_requests",
    "malformed_request",  # any request aiohttp could not parse (web/malformed.py)
    "outside_route_prefix",
)

PROBE_RESULTS = ("success", "failure")
LOOKUP_RESULTS = ("fetched", "cached", "coalesced", "refreshed_ahead", "failure_shared")

#: CHAOS answers in tens to hundreds of milliseconds; a slow day reaches tens of seconds.
CHAOS_DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class LoopCounter(Collector):
    """A labelled counter counted in plain numbers, for the probe path.

    Only the event loop touches it: probes count, and prometheus_client's aiohttp handler
    collects on the loop too. Its ``Counter`` takes a lock on every increment, and every probe
    makes two. The exposition is a Counter's (``_total``, no ``_created``).
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        #: Label values to count, in the order they are shown.
        self.counts: dict[tuple[str, ...], float] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in self.counts.items():
            family.add_metric(labels, value)
        yield family


class LoopGauges(Collector):
    """Labelled gauges kept as plain numbers, for what the CHAOS client reports on the loop.

    ``values`` maps label values to the gauge's value; a key that is absent has no series.
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self.values: dict[tuple[str, ...], float] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in self.values.items():
            family.add_metric(labels, value)
        yield family


class ExporterMetrics:
    """One registry per exporter instance, so tests can run several side by side."""

    def __init__(self, chaos_outcomes: Sequence[str] = ()) -> None:
        # `_created` series double the size of /metrics for a timestamp nobody graphs; the
        # switch is process-wide in prometheus_client, and no registry here wants them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self._modules: set[str] = set()
        self._commands: set[str] = set()
        #: The (credential set, command) pairs whose CHAOS series exist.
        self._pairs: set[tuple[str, str]] = set()
        self._chaos_outcomes = tuple(chaos_outcomes)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        prefix = "aaisp_exporter"
        Gauge(
            f"{prefix}_build_info",
            "Always 1; the labels say which build is running.",
            ["version", "python_version"],
            registry=self.registry,
        ).labels(__version__, platform.python_version()).set(1)
        self.probes = LoopCounter(
            f"{prefix}_probes", "Probes run, by module and result.", ["module", "result"]
        )
        self.registry.register(self.probes)
        self.rejected = Counter(
            f"{prefix}_probe_requests_rejected",
            "Probe requests refused before running (400 or 503), by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{prefix}_probes_in_flight",
            "Probes running now.",
            registry=self.registry,
        )
        self.chaos_requests = LoopCounter(
            f"{prefix}_chaos_requests",
            "HTTP requests sent to CHAOS (every attempt), by credential set, command and outcome.",
            ["auth", "command", "outcome"],
        )
        self.registry.register(self.chaos_requests)
        self.chaos_up = LoopGauges(
            f"{prefix}_chaos_up",
            "1 if the latest CHAOS call (retries included) for the credential set and command "
            "succeeded, 0 if it failed or was refused; no series before the first call ends.",
            ["auth", "command"],
        )
        self.registry.register(self.chaos_up)
        self.chaos_last_success = LoopGauges(
            f"{prefix}_chaos_last_success_timestamp_seconds",
            "When a CHAOS call for the credential set and command last succeeded, in Unix "
            "seconds; no series before the first success.",
            ["auth", "command"],
        )
        self.registry.register(self.chaos_last_success)
        self.chaos_duration = Histogram(
            f"{prefix}_chaos_request_duration_seconds",
            "Time taken by each CHAOS request attempt.",
            ["command"],
            buckets=CHAOS_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.chaos_retries = Counter(
            f"{prefix}_chaos_retries",
            "CHAOS request attempts that were retries of a failed one.",
            ["command"],
            registry=self.registry,
        )
        self.snapshot_lookups = LoopCounter(
            f"{prefix}_snapshot_lookups",
            "Lookups of CHAOS answers: fetched for the probe, cached, or shared with a "
            "concurrent probe's call.",
            ["result"],
        )
        self.registry.register(self.snapshot_lookups)
        self.reload_successful = Gauge(
            f"{prefix}_config_last_reload_successful",
            "1 if the last configuration load succeeded.",
            registry=self.registry,
        )
        self.reload_timestamp = Gauge(
            f"{prefix}_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            registry=self.registry,
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self.snapshot_lookups.counts.update(((result,), 0.0) for result in LOOKUP_RESULTS)

    def init_chaos(self, auths: Iterable[str], commands: Iterable[str]) -> None:
        """Follow the configuration: pre-create the series of every credential set and command
        the modules can call (each outcome at 0), and drop those of sets and commands a reload
        removed, ``chaos_up`` and the last success included."""
        auths, wanted = set(auths), set(commands)
        for command in self._commands - wanted:
            self.chaos_retries.remove(command)
            self.chaos_duration.remove(command)
        for command in sorted(wanted - self._commands):
            self.chaos_retries.labels(command)
            self.chaos_duration.labels(command)
        pairs = {(auth, command) for auth in auths for command in wanted}
        requests = self.chaos_requests.counts
        for key in [key for key in requests if key[:2] not in pairs]:
            del requests[key]
        for gauges in (self.chaos_up.values, self.chaos_last_success.values):
            for key in [key for key in gauges if key not in pairs]:
                del gauges[key]
        for auth, command in sorted(pairs):
            for outcome in self._chaos_outcomes:
                requests.setdefault((auth, command, outcome), 0.0)
        self._commands = wanted
        self._pairs = pairs

    def chaos_request_done(self, auth: str, command: str, outcome: str, seconds: float) -> None:
        """One CHAOS request attempt ended (the CHAOS client's ``CallMetrics``). An attempt a
        reload raced (its credential set or command gone) is not counted, so the series of a
        removed set never come back."""
        if (auth, command) not in self._pairs:
            return
        key = (auth, command, outcome)
        counts = self.chaos_requests.counts
        counts[key] = counts.get(key, 0.0) + 1
        self.chaos_duration.labels(command).observe(seconds)

    def chaos_call_done(self, auth: str, command: str, success: bool) -> None:
        """One CHAOS call ended, after its retries: its success or failure is the pair's
        ``chaos_up``. A failure shared with many probes was one call, and is told once."""
        pair = (auth, command)
        if pair not in self._pairs:
            return
        self.chaos_up.values[pair] = 1.0 if success else 0.0
        if success:
            self.chaos_last_success.values[pair] = time.time()

    def chaos_retried(self, command: str) -> None:
        if command in self._commands:
            self.chaos_retries.labels(command).inc()

    def init_modules(self, modules: Iterable[str]) -> None:
        """Follow the configuration: pre-create the series of every module, so one that never
        failed still shows 0, and drop those of modules a reload removed or renamed."""
        wanted = set(modules)
        counts = self.probes.counts
        for module in self._modules - wanted:
            for result in PROBE_RESULTS:
                counts.pop((module, result), None)
        for module in sorted(wanted - self._modules):
            for result in PROBE_RESULTS:
                counts.setdefault((module, result), 0.0)
        self._modules = wanted

    def probe_done(self, module: str, success: bool) -> None:
        """Count one module's probe; a module unknown here (a reload raced it) still counts."""
        key = (module, "success" if success else "failure")
        counts = self.probes.counts
        counts[key] = counts.get(key, 0.0) + 1

    def lookup_done(self, result: str) -> None:
        """Count one lookup of a CHAOS answer (``Lookup``'s values)."""
        counts = self.snapshot_lookups.counts
        key = (result,)
        counts[key] = counts.get(key, 0.0) + 1
