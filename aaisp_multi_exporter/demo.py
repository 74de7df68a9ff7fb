"""``--demo``: the built-in CHAOS simulator and a configuration that points at it, so a
newcomer sees real probe output without an A&A account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.simulator import Simulator, demo_accounts

DEMO_LINES = 12


def demo_config_text(chaos_url: str, control_login: str, control_password: str) -> str:
    """The demo's modules.toml: the two shipped tiers, with the simulator's fake login."""
    return f"""\
[chaos]
url = "{chaos_url}"

[auths.demo]
control_login = "{control_login}"
control_password = "{control_password}"

[modules.quota]
commands = ["broadband/quota"]
auth = "demo"
timeout_seconds = 10
cache_seconds = 60

[modules.line]
commands = ["broadband/info"]
auth = "demo"
timeout_seconds = 10
cache_seconds = 60
"""


@dataclass
class Demo:
    simulator: Simulator
    loader: Callable[[], Config]
    example_paths: list[str]

    async def stop(self) -> None:
        await self.simulator.stop()


async def start_demo(lines: int = DEMO_LINES) -> Demo:
    accounts = demo_accounts(lines)
    simulator = Simulator(accounts)
    url = await simulator.start()
    account = accounts[0]
    text = demo_config_text(url, account.control_login, account.control_password)

    def loader() -> Config:
        return parse_config(text, source="<demo>")

    ids = [line["ID"] for line in account.lines]
    paths = [
        f"/probe?target={ids[0]}&module=line",
        f"/probe?target={ids[0]}&module=quota,line",
        f"/probe?target={ids[1]}&module=line&debug=true",
        "/probe?target=99999&module=quota&debug=true",
        "/",
    ]
    return Demo(simulator=simulator, loader=loader, example_paths=paths)
