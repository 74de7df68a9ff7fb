"""The real Prometheus scrapes the real exporter with the relabeling of examples/prometheus.yml.

Three processes on loopback: the stand-alone CHAOS simulator, the exporter started from its
command line, and ``/usr/bin/prometheus`` with a configuration made from the example by
swapping only addresses, credential-set names, line IDs and intervals. Lines come from all three
kinds of service discovery the example shows (the exporter's ``/discover``, a file, static
targets); the assertions read Prometheus's own query API, so they see what an operator would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from aaisp_multi_exporter.demo import tiers_text
from tests.processes import free_port
from tests.realprograms import require_program

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
#: Bounded waits: Prometheus needs a few scrape rounds; a stuck process fails the test instead.
STARTUP_SECONDS = 20.0
SERIES_SECONDS = 40.0
SCRAPE_INTERVAL = "2s"
PROMETHEUS_HINT = "apt-get install prometheus"

LINES_PER_ACCOUNT = 6
#: Stand-alone simulator: sim1@a owns 10000-10005, sim2@a owns 10006-10011.
HOME_LINES = [str(10000 + n) for n in range(LINES_PER_ACCOUNT)]
OTHER_LINES = [str(10000 + LINES_PER_ACCOUNT + n) for n in range(LINES_PER_ACCOUNT)]
#: How the example's sources map onto the test: /discover lists "home" (the example's
#: "default"); the file and the static targets carry lines of "other" (the example's "reseller").
FILE_LINES = OTHER_LINES[:3]
STATIC_LINES = OTHER_LINES[3:]
TIERS = ("aaisp_quota", "aaisp_line")
#: A series only a failing probe has: the panels that read it have no data while all is well.
FAILURE_ONLY = "aaisp_probe_module_failure_info"


def modules_toml(chaos_url: str) -> str:
    """The exporter's modules.toml: the shipped tiers (``demo.tiers_text``), with credential
    sets read as the shipped modules.toml reads them (environment, files), not inline."""
    return f"""\
[chaos]
url = "{chaos_url}"

# As in the shipped modules.toml: the first credential set comes from the environment ...
[auths.home]
control_login_env = "AAISP_EXPORTER_AUTH__CONTROL_LOGIN"
control_password_env = "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD"

# ... the second from files.
[auths.other]
control_login = "sim2@a"
control_password_file = "other-password"

{tiers_text("home", timeout_seconds=5, cache_seconds=1)}"""


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_until(
    what: str, check: Callable[[], bool], seconds: float, logs: Callable[[], str]
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds:.0f}s waiting for {what}\n{logs()}")


@dataclass
class Processes:
    """Every process the test started, with its log file; all stopped in ``stop``."""

    tmp: Path
    started: list[tuple[str, subprocess.Popen[bytes], Path]]

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp, env=env
            )
        self.started.append((name, process, log))

    def logs(self) -> str:
        parts = []
        for name, process, log in self.started:
            tail = log.read_text(errors="replace")[-3000:]
            parts.append(f"--- {name} (exit {process.poll()}) ---\n{tail}")
        return "\n".join(parts)

    def stop(self) -> None:
        for _, process, _ in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path, [])
    try:
        yield running
    finally:
        running.stop()


def prometheus_config(exporter: str, tmp: Path) -> dict[str, Any]:
    """examples/prometheus.yml with test addresses, names, lines and intervals; nothing else."""
    text = (EXAMPLES / "prometheus.yml").read_text()
    text = text.replace("aaisp-exporter:9099", exporter).replace("auth=default", "auth=home")
    config: dict[str, Any] = yaml.safe_load(text)
    config["global"]["scrape_interval"] = SCRAPE_INTERVAL
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(EXAMPLES / path) for path in config["rule_files"]]

    example_groups = [
        group
        for path in sorted((EXAMPLES / "targets").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())
    ]
    # The example's groups and labels, with lines the simulator has.
    file_groups = [
        {
            "targets": [line],
            "labels": {
                **example_groups[n % len(example_groups)]["labels"],
                "__param_auth": "other",
            },
        }
        for n, line in enumerate(FILE_LINES)
    ]
    (tmp / "targets").mkdir()
    (tmp / "targets" / "other.yml").write_text(yaml.safe_dump(file_groups))

    for scrape in config["scrape_configs"]:
        scrape["scrape_interval"] = SCRAPE_INTERVAL
        scrape["scrape_timeout"] = SCRAPE_INTERVAL
        if scrape["job_name"] not in TIERS:
            continue
        for sd in scrape["http_sd_configs"]:
            sd["refresh_interval"] = SCRAPE_INTERVAL
        for sd in scrape["file_sd_configs"]:
            sd["files"] = [str(tmp / pattern) for pattern in sd["files"]]
        (static,) = scrape["static_configs"]
        static["targets"] = STATIC_LINES
        static["labels"]["__param_auth"] = "other"
    return config


@dataclass
class PrometheusAPI:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, body = http_get(
            f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        )
        answer = json.loads(body)
        assert status == 200, (expr, answer)
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def has_data(self, expr: str) -> Callable[[], bool]:
        return lambda: bool(self.query(expr))

    def instances(self, expr: str) -> dict[tuple[str, str], float]:
        return {
            (r["metric"]["job"], r["metric"]["instance"]): float(r["value"][1])
            for r in self.query(expr)
        }


def start_prometheus(processes: Processes, tmp: Path, config: dict[str, Any]) -> PrometheusAPI:
    """Check ``config`` with promtool, start Prometheus on it and wait until it is ready."""
    prometheus = require_program("prometheus", PROMETHEUS_HINT)
    promtool = require_program("promtool", PROMETHEUS_HINT)
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(
        [promtool, "check", "config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    processes.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    api = PrometheusAPI(f"http://127.0.0.1:{port}")
    wait_until(
        "Prometheus to be ready",
        lambda: http_get(f"{api.url}/-/ready")[0] == 200,
        STARTUP_SECONDS,
        processes.logs,
    )
    return api


def start_demo_exporter(processes: Processes, route_prefix: str = "") -> str:
    """``aaisp-multi-exporter --demo`` on a free loopback port, ready; its host:port."""
    exporter = f"127.0.0.1:{free_port()}"
    flags = [f"--web.route-prefix={route_prefix}"] if route_prefix else []
    processes.start(
        "exporter",
        [
            sys.executable, "-m", "aaisp_multi_exporter", "--demo",
            "--web.listen-address", exporter, *flags,
        ],
    )  # fmt: skip
    wait_until(
        "the demo exporter to be ready",
        lambda: http_get(f"http://{exporter}{route_prefix}/-/ready")[0] == 200,
        STARTUP_SECONDS,
        processes.logs,
    )
    return exporter


def expected_targets() -> set[tuple[str, str]]:
    lines = HOME_LINES + FILE_LINES + STATIC_LINES
    return {(tier, line) for tier in TIERS for line in lines}


@pytest.mark.slow
def test_prometheus_scrapes_lines_from_every_discovery_kind(
    processes: Processes, tmp_path: Path
) -> None:
    require_program("prometheus", PROMETHEUS_HINT)
    chaos_port, exporter_port = free_port(), free_port()
    exporter = f"127.0.0.1:{exporter_port}"

    processes.start(
        "simulator",
        [
            sys.executable, "-m", "aaisp_multi_exporter.simulator",
            "--lines", str(LINES_PER_ACCOUNT), "--accounts", "2",
            "--listen", f"127.0.0.1:{chaos_port}",
        ],
    )  # fmt: skip
    (tmp_path / "modules.toml").write_text(modules_toml(f"http://127.0.0.1:{chaos_port}"))
    (tmp_path / "other-password").write_text("sim2-password\n")
    env = {
        **os.environ,
        "AAISP_EXPORTER_AUTH__CONTROL_LOGIN": "sim1@a",
        "AAISP_EXPORTER_AUTH__CONTROL_PASSWORD": "sim1-password",
    }
    processes.start(
        "exporter",
        [
            sys.executable, "-m", "aaisp_multi_exporter",
            "--config.file", str(tmp_path / "modules.toml"),
            "--web.listen-address", exporter,
        ],
        env=env,
    )  # fmt: skip
    wait_until(
        "the exporter to be ready",
        lambda: http_get(f"http://{exporter}/-/ready")[0] == 200,
        STARTUP_SECONDS,
        processes.logs,
    )
    # The discovery the example points Prometheus at answers for the test's credential set.
    status, body = http_get(f"http://{exporter}/discover?auth=home&module=line")
    assert status == 200, body
    assert sorted(t for g in json.loads(body) for t in g["targets"]) == HOME_LINES

    api = start_prometheus(processes, tmp_path, prometheus_config(exporter, tmp_path))

    want = expected_targets()

    def all_lines_scraped() -> bool:
        seen = api.instances("aaisp_probe_module_success")
        return want <= set(seen)

    wait_until("every line of every source", all_lines_scraped, SERIES_SECONDS, processes.logs)

    # Sync rates arrive for lines from each kind of discovery, labelled with the line ID.
    upload = api.instances("aaisp_broadband_line_sync_upload_bytes_per_second")
    for source, lines in (
        ("http_sd", HOME_LINES),
        ("file_sd", FILE_LINES),
        ("static", STATIC_LINES),
    ):
        found = [line for line in lines if ("aaisp_line", line) in upload]
        assert found, (source, sorted(upload))
    for line in (HOME_LINES[0], FILE_LINES[0], STATIC_LINES[0]):
        result = api.query(
            f'aaisp_broadband_line_sync_upload_bytes_per_second{{instance="{line}",job="aaisp_line"}}'
        )
        assert len(result) == 1, (line, result)
        assert float(result[0]["value"][1]) > 0

    # Every probe succeeded: right module, right credential set for every line.
    success = api.instances("probe_success")
    assert set(success) == want
    assert set(success.values()) == {1.0}, {k: v for k, v in success.items() if v != 1}
    modules = {
        (r["metric"]["job"], r["metric"]["module"]) for r in api.query("aaisp_probe_module_success")
    }
    assert modules == {("aaisp_quota", "quota"), ("aaisp_line", "line")}

    # Labels of the file groups and static targets reached the series.
    customers = {
        r["metric"]["instance"]: r["metric"].get("customer")
        for r in api.query('probe_success{job="aaisp_line"}')
    }
    assert all(customers[line] for line in FILE_LINES + STATIC_LINES)
    assert not any(customers[line] for line in HOME_LINES)

    # The exporter's own job; Prometheus saw no failed scrape anywhere.
    assert api.instances('up{job="aaisp_exporter"}') == {("aaisp_exporter", exporter): 1.0}
    down = [r["metric"] for r in api.query("up == 0")]
    assert not down, down
    _, body = http_get(f"{api.url}/api/v1/targets")
    errors = [
        (t["labels"].get("instance"), t["lastError"])
        for t in json.loads(body)["data"]["activeTargets"]
        if t["lastError"]
    ]
    assert not errors, errors

    # The example rules load and evaluate cleanly against real series.
    def rules_evaluated() -> bool:
        return bool(api.query("instance:aaisp_broadband_quota_used:ratio_last20m"))

    wait_until("the recording rules", rules_evaluated, SERIES_SECONDS, processes.logs)
    _, body = http_get(f"{api.url}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    assert {g["name"] for g in groups} == {
        "aaisp-quota",
        "aaisp-lines",
        "aaisp-exporter",
        "aaisp-exporter-chaos",
    }
    unhealthy = [
        (r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"
    ]
    assert not unhealthy, unhealthy
    firing = [
        a["labels"] for g in groups for r in g["rules"] for a in r.get("alerts", [])
        if a["labels"]["alertname"] != "AAISPQuotaNearlyUsed"
    ]  # fmt: skip
    assert not firing, firing

    # Every dashboard query is valid PromQL for this Prometheus, and returns data.
    dashboard = json.loads((EXAMPLES / "grafana" / "aaisp-dashboard.json").read_text())
    for expr in dashboard_exprs(dashboard):
        if FAILURE_ONLY in expr:
            api.query(expr)  # valid PromQL; its data: tests/test_prometheus_failures.py
            continue
        # rate() needs two samples of the exporter's own job; query() fails at once on bad PromQL.
        wait_until(
            f"data for {expr}",
            api.has_data(expr),
            SERIES_SECONDS,
            processes.logs,
        )


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    """Panel queries with Grafana's variables as Grafana would expand "All"."""
    variables = {
        "$__rate_interval": "1m",
        "${datasource}": "",
        "$job": ".+",
        "$instance": ".+",
        "$exporter": ".+",
    }
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr: str = target["expr"]
            for name, value in variables.items():
                expr = expr.replace(name, value)
            assert not re.search(r"\$\w", expr), expr
            yield expr


@pytest.mark.slow
def test_compose_stack_config_scrapes_the_demo(processes: Processes, tmp_path: Path) -> None:
    """examples/compose/prometheus.yml against ``--demo``, as ``docker compose up`` runs them."""
    require_program("prometheus", PROMETHEUS_HINT)
    exporter = start_demo_exporter(processes)
    _, body = http_get(f"http://{exporter}/discover")
    demo_lines = {t for group in json.loads(body) for t in group["targets"]}
    assert demo_lines

    text = (EXAMPLES / "compose" / "prometheus.yml").read_text()
    config: dict[str, Any] = yaml.safe_load(text.replace("aaisp-exporter:9099", exporter))
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [
        str(EXAMPLES / "rules" / Path(path).name) for path in config["rule_files"]
    ]
    for scrape in config["scrape_configs"]:
        scrape["scrape_interval"] = scrape["scrape_timeout"] = SCRAPE_INTERVAL
        for sd in scrape.get("http_sd_configs", []):
            sd["refresh_interval"] = SCRAPE_INTERVAL
    api = start_prometheus(processes, tmp_path, config)

    want = {(tier, line) for tier in TIERS for line in demo_lines}
    wait_until(
        "every demo line in both tiers",
        lambda: want <= set(api.instances("probe_success")),
        SERIES_SECONDS,
        processes.logs,
    )
    success = api.instances("probe_success")
    assert set(success) == want
    assert set(success.values()) == {1.0}
    assert api.instances('up{job="aaisp_exporter"}') == {("aaisp_exporter", exporter): 1.0}


@pytest.mark.slow
def test_prometheus_scrapes_behind_a_route_prefix(processes: Processes, tmp_path: Path) -> None:
    """``--web.route-prefix=/aaisp``: the example's line job, its discovery URL moved under
    the prefix and nothing else, scrapes ``/aaisp/probe`` because ``/discover`` says so
    (``__metrics_path__``); the exporter's own job names ``/aaisp/metrics``."""
    require_program("prometheus", PROMETHEUS_HINT)
    exporter = start_demo_exporter(processes, route_prefix="/aaisp")
    shipped = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    (line_job,) = [s for s in shipped["scrape_configs"] if s["job_name"] == "aaisp_line"]
    (sd,) = line_job["http_sd_configs"]
    discovery = sd["url"].replace(EXAMPLE_ADDRESS, exporter + "/aaisp")
    relabel = yaml.safe_load(
        yaml.safe_dump(line_job["relabel_configs"]).replace(EXAMPLE_ADDRESS, exporter)
    )
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "aaisp_line",
                "metrics_path": line_job["metrics_path"],  # /probe: /discover overrides it
                "params": line_job["params"],
                "scrape_timeout": SCRAPE_INTERVAL,
                "http_sd_configs": [{"url": discovery, "refresh_interval": SCRAPE_INTERVAL}],
                "relabel_configs": relabel,
            },
            {
                "job_name": "aaisp_exporter",
                "metrics_path": "/aaisp/metrics",
                "static_configs": [{"targets": [exporter]}],
            },
        ],
    }
    status, body = http_get(discovery)
    assert status == 200, body
    lines = {t for group in json.loads(body) for t in group["targets"]}
    assert lines
    api = start_prometheus(processes, tmp_path, config)
    want = {("aaisp_line", line) for line in lines}
    wait_until(
        "probe_success for every line under the prefix",
        lambda: want <= set(api.instances("probe_success")),
        SERIES_SECONDS,
        processes.logs,
    )
    assert set(api.instances("probe_success").values()) == {1.0}
    assert api.instances('up{job="aaisp_exporter"}') == {("aaisp_exporter", exporter): 1.0}
    _, body = http_get(f"{api.url}/api/v1/targets")
    targets = json.loads(body)["data"]["activeTargets"]
    paths = {(t["labels"]["job"], urllib.parse.urlsplit(t["scrapeUrl"]).path) for t in targets}
    assert paths == {("aaisp_line", "/aaisp/probe"), ("aaisp_exporter", "/aaisp/metrics")}
    assert not [t["lastError"] for t in targets if t["lastError"]]


# --------------------------------------------------------------------------- as shipped

#: The exporter's address in every example: the one thing a user has to change.
EXAMPLE_ADDRESS = "aaisp-exporter:9099"
#: Timings the test may shorten. Prometheus spreads a job's first scrape over its interval, so the
#: example's 5m and 15m would make the test wait up to 15 minutes; a timeout may not exceed it.
TIMING_KEYS = frozenset({"scrape_interval", "scrape_timeout", "evaluation_interval"})

YamlPath = tuple[str | int, ...]


def leaf_differences(
    old: Any, new: Any, path: YamlPath = ()
) -> Iterator[tuple[YamlPath, Any, Any]]:
    """Every place where ``new`` differs from ``old``; a key or list item added or removed is a
    difference of the mapping or list that holds it."""
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        for key in old:
            yield from leaf_differences(old[key], new[key], (*path, key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from leaf_differences(a, b, (*path, index))
    elif old != new:
        yield path, old, new


def unexplained_changes(
    shipped: Any, changed: Any, exporter: str, base: Path
) -> list[tuple[YamlPath, Any, Any]]:
    """Changes other than the exporter's address, a relative path made absolute against
    ``base``, or a shorter timing."""
    unexplained = []
    for path, old, new in leaf_differences(shipped, changed):
        if isinstance(old, str) and isinstance(new, str):
            if EXAMPLE_ADDRESS in old and new == old.replace(EXAMPLE_ADDRESS, exporter):
                continue
            if not Path(old).is_absolute() and new == str(base / old):
                continue
            if path and path[-1] in TIMING_KEYS:
                continue
        unexplained.append((path, old, new))
    return unexplained


SHIPPED_SAMPLE: dict[str, Any] = {
    "global": {"scrape_interval": "1m"},
    "rule_files": ["rules/*.yml"],
    "scrape_configs": [
        {
            "job_name": "aaisp_quota",
            "http_sd_configs": [
                {"url": "http://aaisp-exporter:9099/discover?auth=default&module=quota"}
            ],
            "static_configs": [{"targets": ["20044"], "labels": {"__param_auth": "reseller"}}],
            "relabel_configs": [{"target_label": "__address__", "replacement": EXAMPLE_ADDRESS}],
        }
    ],
}


def changed_sample(*edits: tuple[YamlPath, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(json.dumps(SHIPPED_SAMPLE))
    for path, value in edits:
        node: Any = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return config


JOB: YamlPath = ("scrape_configs", 0)


@pytest.mark.parametrize(
    ("edits", "unexplained"),
    [
        pytest.param((), [], id="unchanged"),
        pytest.param(
            (
                (
                    (*JOB, "http_sd_configs", 0, "url"),
                    "http://127.0.0.1:1/discover?auth=default&module=quota",
                ),
                ((*JOB, "relabel_configs", 0, "replacement"), "127.0.0.1:1"),
            ),
            [],
            id="addresses",
        ),
        pytest.param(((("rule_files", 0), "/srv/examples/rules/*.yml"),), [], id="absolute-path"),
        pytest.param(
            ((("global", "scrape_interval"), "2s"), ((*JOB, "scrape_interval"), "2s")),
            [(("scrape_configs", 0), None, None)],
            id="timing-added-to-a-job-is-a-new-key",
        ),
        pytest.param(((("global", "scrape_interval"), "2s"),), [], id="timing"),
        pytest.param(
            (
                (
                    (*JOB, "http_sd_configs", 0, "url"),
                    "http://127.0.0.1:1/discover?auth=home&module=quota",
                ),
            ),
            [((*JOB, "http_sd_configs", 0, "url"), None, None)],
            id="credential-set-renamed",
        ),
        pytest.param(
            (((*JOB, "static_configs", 0, "labels", "__param_auth"), "other"),),
            [((*JOB, "static_configs", 0, "labels", "__param_auth"), None, None)],
            id="auth-label-changed",
        ),
        pytest.param(
            (((*JOB, "static_configs", 0, "targets"), ["10006", "10007"]),),
            [((*JOB, "static_configs", 0, "targets"), None, None)],
            id="lines-replaced",
        ),
        pytest.param(
            ((("rule_files", 0), "/srv/rules/other.yml"),),
            [(("rule_files", 0), None, None)],
            id="different-file",
        ),
    ],
)
def test_unexplained_changes(
    edits: tuple[tuple[YamlPath, Any], ...], unexplained: list[tuple[YamlPath, None, None]]
) -> None:
    found = unexplained_changes(
        SHIPPED_SAMPLE, changed_sample(*edits), "127.0.0.1:1", Path("/srv/examples")
    )
    assert [(path, None, None) for path, _, _ in found] == unexplained


def as_shipped_config(exporter: str) -> dict[str, Any]:
    """examples/prometheus.yml pointed at ``exporter``, its relative paths made absolute (the
    test writes the file elsewhere) and its timings shortened; nothing else."""
    text = (EXAMPLES / "prometheus.yml").read_text().replace(EXAMPLE_ADDRESS, exporter)
    config: dict[str, Any] = yaml.safe_load(text)
    config["global"]["scrape_interval"] = SCRAPE_INTERVAL
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(EXAMPLES / path) for path in config["rule_files"]]
    for scrape in config["scrape_configs"]:
        for key in ("scrape_interval", "scrape_timeout"):
            if key in scrape:
                scrape[key] = SCRAPE_INTERVAL
        for sd in scrape.get("file_sd_configs", []):
            sd["files"] = [str(EXAMPLES / pattern) for pattern in sd["files"]]
    return config


def example_job_lines(scrape: dict[str, Any], exporter: str) -> dict[str, set[str]]:
    """The lines one tier job of the example reaches, by kind of discovery, found as
    Prometheus finds them (the HTTP SD URL asked of the running exporter)."""
    found: dict[str, set[str]] = {"http_sd": set(), "file_sd": set(), "static": set()}
    for sd in scrape.get("http_sd_configs", []):
        status, body = http_get(sd["url"].replace(EXAMPLE_ADDRESS, exporter))
        assert status == 200, (sd["url"], body)
        found["http_sd"] |= {t for group in json.loads(body) for t in group["targets"]}
    for sd in scrape.get("file_sd_configs", []):
        for pattern in sd["files"]:
            for path in sorted(EXAMPLES.glob(pattern)):
                groups = yaml.safe_load(path.read_text())
                found["file_sd"] |= {t for group in groups for t in group["targets"]}
    for group in scrape.get("static_configs", []):
        found["static"] |= set(group["targets"])
    return found


@pytest.mark.slow
def test_example_config_as_shipped_scrapes_the_demo(processes: Processes, tmp_path: Path) -> None:
    """A new user points examples/prometheus.yml at ``make demo``, changing only the exporter's
    address: every target is up with ``probe_success 1`` (issue 10, item 8). The demo serves the
    credential sets the example names (``default`` for /discover, ``reseller`` for the file and
    static targets) and the lines it lists; ``rule_files: rules/*.yml`` loads rule files only."""
    require_program("prometheus", PROMETHEUS_HINT)
    exporter = start_demo_exporter(processes)
    shipped = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    config = as_shipped_config(exporter)
    assert unexplained_changes(shipped, config, exporter, EXAMPLES) == []

    want: set[tuple[str, str]] = set()
    for scrape in shipped["scrape_configs"]:
        if scrape["job_name"] not in TIERS:
            continue
        sources = example_job_lines(scrape, exporter)
        # The example shows every kind of discovery, and lists each line once per job.
        assert all(sources.values()), sources
        assert sum(map(len, sources.values())) == len(set().union(*sources.values())), sources
        want |= {(scrape["job_name"], line) for lines in sources.values() for line in lines}

    api = start_prometheus(processes, tmp_path, config)

    def all_probes_succeeded() -> bool:
        success = api.instances("probe_success")
        return want <= {key for key, value in success.items() if value == 1}

    wait_until(
        "probe_success 1 for every target", all_probes_succeeded, SERIES_SECONDS, processes.logs
    )
    success = api.instances("probe_success")
    assert set(success) == want
    assert set(success.values()) == {1.0}

    # Every target Prometheus has, the exporter's own included, is up with no error.
    _, body = http_get(f"{api.url}/api/v1/targets")
    targets = json.loads(body)["data"]["activeTargets"]
    assert {(t["labels"]["job"], t["labels"]["instance"]) for t in targets} == want | {
        ("aaisp_exporter", exporter)
    }
    bad = [
        (t["labels"]["instance"], t["health"], t["lastError"])
        for t in targets
        if t["health"] != "up" or t["lastError"]
    ]
    assert not bad, bad

    # The exporter rejected nothing: no probe named an unknown module or credential set.
    _, metrics = http_get(f"http://{exporter}/metrics")
    rejected = [
        float(value)
        for name, value in re.findall(r"^(\S+) (\S+)$", metrics, re.M)
        if name.startswith("aaisp_exporter_probe_requests_rejected_total{")
    ]
    assert rejected, metrics
    assert sum(rejected) == 0, [line for line in metrics.splitlines() if "rejected" in line]

    # rules/*.yml loaded and every rule evaluates.
    def rules_healthy() -> bool:
        _, body = http_get(f"{api.url}/api/v1/rules")
        rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        return bool(rules) and all(r["health"] == "ok" for r in rules)

    wait_until("every example rule to evaluate", rules_healthy, SERIES_SECONDS, processes.logs)
    _, body = http_get(f"{api.url}/api/v1/rules")
    files = {g["file"] for g in json.loads(body)["data"]["groups"]}
    assert files == {str(path) for path in (EXAMPLES / "rules").glob("*.yml")}
