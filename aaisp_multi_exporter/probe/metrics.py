"""A probe's results as Prometheus metric families: pure mapping, no bytes.

``line_families`` (a command's series for one line), ``settings_families``,
``summary_families`` (how the probe went) and ``timing_families`` (what changes every time);
``family_heads`` names the families a command can write. Writing them is
``probe.exposition``'s job, and ``probe.render`` joins the two: nothing here calls either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.samples import Sample

from aaisp_multi_exporter.chaos.commands import Command, FieldValue
from aaisp_multi_exporter.chaos.parsers import parse_number
from aaisp_multi_exporter.chaos.records import LineRecord
from aaisp_multi_exporter.chaos.settings import Setting
from aaisp_multi_exporter.probe.results import ProbeResult


def family_heads(command: Command) -> list[tuple[str, str]]:
    """(metric, help) of each family ``line_families`` can give for ``command``, in its
    order."""
    families = [(command.info.metric, command.info.help)] if command.info is not None else []
    families += [(spec.gauge.metric, spec.gauge.help) for spec in command.fields if spec.gauge]
    return families


def line_families(command: Command, record: LineRecord) -> list[Metric]:
    """The series ``command`` owns for one line (or, for ``entries = "each"`` or ``"all"``,
    each of its entries, told apart by the command's ``labels``); a field CHAOS left out is
    left out, never 0."""
    rows = record.rows()
    names = command.labels
    families: list[Metric] = []
    if command.info is not None:
        info = _info_family(command, record, rows)
        if info is not None:
            families.append(info)
    for field in command.fields:
        gauge = field.gauge
        if gauge is None:
            continue
        family: Metric | None = None
        for values in rows:
            value = values.get(field.name)
            if value is None or (gauge.when is not None and not gauge.when(values)):
                continue
            labels = [_label_value(values.get(name)) for name in names]
            if gauge.states is not None:
                if family is None:
                    family = StateSetMetricFamily(gauge.metric, gauge.help, labels=names)
                # A text that is none of the states gives every state 0 (noted at parsing).
                current = {state: state == value for state in gauge.states}
                cast(StateSetMetricFamily, family).add_metric(labels, current)
            elif not isinstance(value, str):
                if family is None:
                    family = GaugeMetricFamily(gauge.metric, gauge.help, labels=names)
                cast(GaugeMetricFamily, family).add_metric(labels, value * gauge.scale)
        if family is not None:
            families.append(family)
    if command.settings and record.settings:
        families += settings_families(command.settings, record.settings)
    return families


def settings_families(names: Sequence[str], settings: Sequence[Setting]) -> list[Metric]:
    """Each setting by its own type (SPEC 6b): a checkbox 0/1, a quantity its number, any
    other type an info series carrying the value."""
    enabled, value, info = (
        GaugeMetricFamily(name, help_text, labels=labels)
        for name, help_text, labels in zip(
            names,
            (
                "1 if the service's checkbox setting is set (CHAOS options).",
                "The service's quantity setting (CHAOS options).",
                "Always 1; the service's setting and its value (CHAOS options).",
            ),
            (["setting"], ["setting"], ["setting", "value"]),
            strict=True,
        )
    )
    for setting in settings:
        if setting.type == "checkbox":
            enabled.add_metric([setting.name], float(setting.value))
        elif setting.type == "quantity":
            number = parse_number(setting.value)
            if number is not None:
                value.add_metric([setting.name], number)
        else:
            info.add_metric([setting.name, setting.value], 1)
    return [family for family in (enabled, value, info) if family.samples]


def _info_family(
    command: Command, record: LineRecord, rows: Sequence[Mapping[str, FieldValue]]
) -> Metric | None:
    """The always-1 info metric: the key (not for an account-level table, whose entries are
    not the target's), the text labels, and the command's labels."""
    info = command.info
    assert info is not None
    keyed = command.entries != "all"
    family = GaugeMetricFamily(
        info.metric,
        info.help,
        labels=[*([info.key_label] if keyed else []), *info.labels, *command.labels],
    )
    for values in rows:
        texts = [values.get(name) for name in info.labels]
        # Only an entry that carries some text label gets the series, so it never flips
        # between label sets as lines with and without data are scraped.
        if texts and all(text is None for text in texts):
            continue
        family.add_metric(
            [
                *([record.line_id] if keyed else []),
                *(_label_value(text) for text in texts),
                *(_label_value(values.get(name)) for name in command.labels),
            ],
            1,
        )
    return family if family.samples else None


def _label_value(value: FieldValue | None) -> str:
    return "" if value is None else str(value)


def summary_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that say how it went; the same values give the same text.

    A failed module also has ``aaisp_probe_module_failure_info{module,kind} 1``, one series
    whatever the number of its failed commands (``ModuleResult.failure_kind`` chooses); with
    no failed module the family is left out.
    """
    module_success = GaugeMetricFamily(
        "aaisp_probe_module_success",
        "1 if the module got CHAOS data for the line.",
        labels=["module"],
    )
    failure_info = GaugeMetricFamily(
        "aaisp_probe_module_failure_info",
        "Always 1, for each module that failed; kind says why (docs/troubleshooting.md).",
        labels=["module", "kind"],
    )
    for name, success, kind in result.module_states:
        module_success.add_metric([name], int(success))
        if not success and kind is not None:
            failure_info.add_metric([name, kind.value], 1)
    families: list[Metric] = [
        GaugeMetricFamily(
            "probe_success",
            "1 if every requested module got CHAOS data for the line.",
            value=int(result.success),
        ),
        GaugeMetricFamily(
            "probe_timeout_seconds", "The probe's deadline in seconds.", value=result.timeout
        ),
        module_success,
    ]
    if failure_info.samples:
        families.append(failure_info)
    return families


#: The per-probe gauges' empty families, made (and their names checked) once by
#: GaugeMetricFamily itself; ``_fresh`` makes each request's from them, and
#: ``probe.render`` writes their lines without making the families.
DURATION = GaugeMetricFamily("probe_duration_seconds", "How long the probe took.", labels=[])
DATA_AGE = GaugeMetricFamily(
    "aaisp_probe_data_age_seconds",
    "Age of the CHAOS answer used (0 when fetched for this probe; answers are shared "
    "for the module's cache_seconds).",
    labels=["module"],
)


def timing_families(result: ProbeResult) -> list[Metric]:
    """The probe's gauges that change every time: its duration and the data's age."""
    ages = []
    for module in result.modules:
        age = module.data_age
        if age is not None:
            ages.append(Sample(DATA_AGE.name, {"module": module.name}, age))
    duration = [Sample(DURATION.name, {}, result.duration)]
    return [_fresh(DURATION, duration), _fresh(DATA_AGE, ages)]


def _fresh(empty: GaugeMetricFamily, samples: list[Sample]) -> GaugeMetricFamily:
    """A new family like ``empty`` with these samples: what GaugeMetricFamily's constructor
    and ``add_metric`` make, without checking the same name again on every probe.
    ``tests/probe/test_metrics.py`` holds the two to equal."""
    family = GaugeMetricFamily.__new__(GaugeMetricFamily)
    family.__dict__.update(empty.__dict__)
    family.samples = samples
    return family
