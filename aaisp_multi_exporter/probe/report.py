"""The ``debug=true`` answer: blackbox_exporter's three sections for one probe."""

from __future__ import annotations

from aaisp_multi_exporter.config import Config, render_config_toml, subset_config
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.render import exposition_text
from aaisp_multi_exporter.probe.request import ProbeRequest
from aaisp_multi_exporter.probe.results import ProbeResult


def debug_report(log: ProbeLog, result: ProbeResult, request: ProbeRequest, config: Config) -> str:
    """Logs, the metrics that would have been returned, and the configuration used (secrets
    hidden), in blackbox_exporter's three sections."""
    used = subset_config(
        config,
        modules=[plan.module.name for plan in request.modules],
        auths=sorted({plan.auth.name for plan in request.modules}),
    )
    verdict = "succeeded" if result.success else "failed"
    return "\n".join(
        [
            f"Probe of target {request.target} {verdict} in {result.duration:.3f}s "
            f"(deadline {result.timeout:.3f}s).",
            *(f"  {reason}" for reason in result.reasons),
            "",
            "Logs for the probe:",
            log.text(),
            "Metrics that would have been returned:",
            exposition_text(result),
            "Module configuration:",
            render_config_toml(used),
        ]
    )
