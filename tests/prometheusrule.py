"""examples/kubernetes/prometheusrule.yaml, made from examples/rules/*.yml.

``python -m tests.prometheusrule`` (``make examples``) writes it. The Prometheus Operator
loads rules from PrometheusRule resources, not files, so the resource carries every group of
the rule files, comments included, under ``spec.groups``; ``tests/test_examples.py`` fails
when the file and the rules differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "examples" / "rules"
OUTPUT = REPO / "examples" / "kubernetes" / "prometheusrule.yaml"

HEADER = """\
# Generated from ../rules/*.yml by `make examples` (tests/prometheusrule.py): edit the rule
# files, not this one. tests/test_examples.py fails when the two differ.
#
# The Prometheus Operator loads rules from PrometheusRule resources. Your Prometheus resource
# must select this one (ruleSelector; kube-prometheus-stack wants a `release` label by
# default). The rules expect the job names of scrapeconfig.yaml: aaisp_quota, aaisp_line and
# aaisp_exporter.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: aaisp-multi-exporter
  namespace: monitoring
  labels:
    app.kubernetes.io/name: aaisp-multi-exporter
spec:
  groups:
"""


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yml"))


def groups_text(path: Path) -> str:
    """What follows the file's top-level ``groups:``, indented one level deeper."""
    text = path.read_text()
    _, found, body = ("\n" + text).partition("\ngroups:\n")
    if not found:
        raise ValueError(f"{path}: no top-level groups:")
    lines = [f"  {line}" if line.strip() else "" for line in body.rstrip("\n").split("\n")]
    return f"    # ---- ../rules/{path.name}\n" + "\n".join(lines) + "\n"


def render() -> str:
    return HEADER + "\n".join(groups_text(path) for path in rule_files())


def main() -> int:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
