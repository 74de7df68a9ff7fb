"""Reaching CHAOS through a proxy (SPEC 9, R4), on the real process.

The exporter runs as a process with the environment a site sets (``HTTP_PROXY``,
``NO_PROXY``) or a ``[chaos] proxy_url``; a forward proxy in this test (``forwardproxy.py``)
counts what passes it. The CHAOS URL names a host that does not resolve (``chaos.test``),
which only the proxy maps to the simulator: a probe that succeeds went through it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import pytest

from aaisp_multi_exporter.simulator import Simulator
from tests.conftest import SENTINEL, config_text, samples
from tests.forwardproxy import ForwardProxy, dead_proxy_url
from tests.processes import REPO, Process, running_exporter

#: Appears nowhere but in a proxy's URL; it must never be printed.
PROXY_SENTINEL = "Pr0xy-S3NTINEL-do-not-leak"
PROXY_LOGIN = "scraper"
#: The process's environment without any proxy variable of the machine running the tests.
CLEAN_ENV = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}


def env(**variables: str) -> dict[str, str]:
    return {**CLEAN_ENV, **variables}


def chaos_test_url(simulator: Simulator) -> str:
    """The simulator under a name only the proxy knows."""
    return "http://chaos.test:" + simulator.url.rsplit(":", 1)[1]


@pytest.fixture
async def proxy(simulator: Simulator) -> AsyncIterator[ForwardProxy]:
    started = await ForwardProxy(hosts={"chaos.test": simulator.url.split("//")[1]}).start()
    yield started
    await started.close()


@pytest.fixture
async def locked_proxy(simulator: Simulator) -> AsyncIterator[ForwardProxy]:
    """A proxy that wants a user and password, the password being the sentinel."""
    started = await ForwardProxy(
        hosts={"chaos.test": simulator.url.split("//")[1]},
        credentials=(PROXY_LOGIN, PROXY_SENTINEL),
    ).start()
    yield started
    await started.close()


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "modules.toml"
    text = config_text(url, cache_seconds="0", retries="0")
    path.write_text(text.replace('[chaos]\nurl = "', f'[chaos]\n{extra}url = "', 1))
    return path


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def probe(process: Process, query: str) -> dict[str, float]:
    status, text = await get(f"{process.url}/probe?{query}")
    assert status == 200, text
    return samples(text)


async def chaos_check(config: Path, variables: Mapping[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aaisp_multi_exporter",
        "--chaos.check",
        "--config.file",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env=dict(variables),
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_environment_proxy_carries_every_chaos_call(
    tmp_path: Path, simulator: Simulator, proxy: ForwardProxy
) -> None:
    """``HTTP_PROXY`` for an http:// CHAOS URL (``HTTPS_PROXY``, a dead one here, is for
    https:// URLs); ``NO_PROXY`` entries that do not name the host change nothing."""
    url = chaos_test_url(simulator)
    variables = env(
        HTTP_PROXY=proxy.url,
        HTTPS_PROXY=dead_proxy_url(),
        NO_PROXY="localhost,.example.org,10.0.0.0/8",
    )
    async with running_exporter(
        "--config.file", str(write_config(tmp_path, url)), env=variables
    ) as process:
        assert (await probe(process, "target=10000&module=line"))["probe_success"] == 1
        assert (await probe(process, "target=10000&module=quota"))["probe_success"] == 1
        await process.stop()
    assert sorted(proxy.requests) == [
        ("POST", f"{url}/broadband/info/json"),
        ("POST", f"{url}/broadband/quota/json"),
    ]


async def test_no_proxy_goes_straight_to_chaos(
    tmp_path: Path, simulator: Simulator, proxy: ForwardProxy
) -> None:
    variables = env(http_proxy=proxy.url, no_proxy="example.org, 127.0.0.0/8")
    config = write_config(tmp_path, simulator.url)
    async with running_exporter("--config.file", str(config), env=variables) as process:
        assert (await probe(process, "target=10000&module=line"))["probe_success"] == 1
        await process.stop()
    assert proxy.requests == []
    assert simulator.calls


async def test_proxy_url_wins_and_its_password_is_never_shown(
    tmp_path: Path, simulator: Simulator, locked_proxy: ForwardProxy
) -> None:
    """``[chaos] proxy_url_file`` over a dead ``HTTP_PROXY``; then, reloaded, the inline
    form, shown as ``<secret>``; then a wrong password, which the proxy refuses (407) and the
    reason says so. The sentinel is in no answer, page or log line."""
    url = chaos_test_url(simulator)
    secret_file = tmp_path / "proxy-url"
    inline = f"http://{PROXY_LOGIN}:{PROXY_SENTINEL}@{locked_proxy.address}"
    secret_file.write_text(inline + "\n")
    config = write_config(tmp_path, url, f'proxy_url_file = "{secret_file}"\n')
    seen: list[str] = []
    async with running_exporter(
        "--config.file", str(config), env=env(HTTP_PROXY=dead_proxy_url())
    ) as process:
        assert (await probe(process, "target=10000&module=line"))["probe_success"] == 1
        assert locked_proxy.forwarded == 1
        status, shown = await get(f"{process.url}/config")
        assert f'proxy_url_file = "{secret_file}"' in shown
        seen.append(shown)

        config.write_text(
            config.read_text().replace(
                f'proxy_url_file = "{secret_file}"', f'proxy_url = "{inline}"'
            )
        )
        process.proc.send_signal(signal.SIGHUP)
        await process.wait_for_log("configuration reloaded on SIGHUP")
        status, shown = await get(f"{process.url}/config")
        assert f'proxy_url = "http://<secret>@{locked_proxy.address}"' in shown
        seen.append(shown)
        assert (await probe(process, "target=10000&module=quota"))["probe_success"] == 1
        assert locked_proxy.forwarded == 2

        config.write_text(
            config.read_text().replace(PROXY_SENTINEL, "wrong-" + PROXY_SENTINEL[::-1])
        )
        process.proc.send_signal(signal.SIGHUP)
        await process.wait_for_log("configuration reloaded on SIGHUP")
        status, debug = await get(f"{process.url}/probe?target=10000&module=line&debug=true")
        assert status == 200
        assert "probe_success 0" in debug
        assert (
            f"the proxy answered HTTP 407 through proxy {locked_proxy.url} (from [chaos] proxy_url)"
            in debug
        )
        assert locked_proxy.refused == 1
        seen.append(debug)
        seen.append((await get(f"{process.url}/logs?target=10000"))[1])
        seen.append((await get(f"{process.url}/"))[1])
        seen.append(await process.stop())
    assert PROXY_SENTINEL not in "".join(seen)
    assert PROXY_SENTINEL[::-1] not in "".join(seen)


async def test_dead_proxy_is_a_transport_error_naming_it(
    tmp_path: Path, simulator: Simulator
) -> None:
    """A proxy that is down: the probe's reason and ``--chaos.check`` name it (without its
    credentials), and nothing goes around it to CHAOS."""
    dead = dead_proxy_url()
    with_password = dead.replace("http://", f"http://{PROXY_LOGIN}:{PROXY_SENTINEL}@")
    variables = env(HTTP_PROXY=with_password)
    config = write_config(tmp_path, simulator.url)
    async with running_exporter("--config.file", str(config), env=variables) as process:
        status, debug = await get(f"{process.url}/probe?target=10000&module=line&debug=true")
        assert status == 200
        assert "probe_success 0" in debug
        assert "transport_error" in debug
        assert (
            f"cannot reach CHAOS through proxy {dead} (from HTTP_PROXY) (broadband/info)" in debug
        )
        log = await process.stop()
    status, out, err = await chaos_check(config, variables)
    assert status == 1
    assert out.splitlines()[0].startswith(
        f"Checking CHAOS at {simulator.url} through proxy {dead} (from HTTP_PROXY): "
    )
    assert f"no usable answer: cannot reach CHAOS through proxy {dead} (from HTTP_PROXY)" in out
    assert simulator.calls == {}
    for text in (debug, log, out, err):
        assert PROXY_SENTINEL not in text
        assert SENTINEL not in text


async def test_chaos_check_goes_through_the_proxy_and_names_it(
    tmp_path: Path, simulator: Simulator, proxy: ForwardProxy
) -> None:
    url = chaos_test_url(simulator)
    config = write_config(tmp_path, url)
    status, out, err = await chaos_check(config, env(http_proxy=proxy.url))
    assert (status, err) == (0, ""), out + err
    assert out.startswith(f"Checking CHAOS at {url} through proxy {proxy.url} (from http_proxy): ")
    # Two credential sets, two commands: one call each, every one through the proxy.
    assert proxy.forwarded == 4
