"""``--demo``: the built-in CHAOS simulator and a configuration that points at it, so a
newcomer sees real probe output without an A&A account.

The demo serves the two credential sets that ``examples/prometheus.yml`` names, each with its
own simulated account, so the example runs against ``--demo`` with only its addresses changed:

* ``default`` (the name the shipped ``modules.toml`` uses): a control login with lines
  10000-10011, the ones ``/discover?auth=default`` lists;
* ``reseller``: an account-number login with lines 20040-20051, which include the lines the
  example lists in ``targets/reseller.yml`` and as static targets (20040-20045).

It also declares a command the exporter does not build in, ``telephony/info``, as
docs/commands.md's worked example does, so the landing page, ``/discover?module=phones`` and
the debug text show what a declared command looks like. Its reply is made up: no public
reply shows that command's shape (docs/chaos-api.md).

Its pieces of modules.toml (``TELEPHONY_COMMAND``, ``module_text``, ``tiers_text``) are the
one source the tests build their configurations from too, so the demo and the tests cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aaisp_multi_exporter.config import Config, parse_config
from aaisp_multi_exporter.simulator import (
    DEMO_LOGIN,
    DEMO_PASSWORD,
    Fault,
    SimAccount,
    Simulator,
    generate_lines,
    service_aliases,
)
from aaisp_multi_exporter.simulator.model import current_uk_hour

DEMO_LINES = 12
DEFAULT_FIRST_LINE = 10000
RESELLER_FIRST_LINE = 20040
RESELLER_CONTROL_LOGIN = "reseller@a"
RESELLER_ACCOUNT_NUMBER = "A1234A"
# A fake credential that only opens the local simulator; printing it is harmless.
RESELLER_ACCOUNT_PASSWORD = "reseller-demo-password"  # noqa: S105
#: The illustrative telephony/info reply of docs/commands.md: every field name is made up, and
#: the numbers are Ofcom's drama range.
ILLUSTRATIVE_TELEPHONY = {
    "info": [
        {"number": "01632960001", "name": "Office", "credit": "12.50", "calls_today": "7"},
        {"number": "01632960002", "name": "Fax", "credit": "0.00", "calls_today": "0"},
    ]
}


@dataclass(frozen=True)
class DemoAccounts:
    """The simulated account behind each of the demo's credential sets."""

    default: SimAccount
    reseller: SimAccount

    def all(self) -> list[SimAccount]:
        return [self.default, self.reseller]


def demo_accounts(lines: int = DEMO_LINES) -> DemoAccounts:
    """Two accounts with separate lines; quota times are the current UK hour, so they look live."""
    stamp = current_uk_hour()
    default = generate_lines(lines, start_id=DEFAULT_FIRST_LINE, quota_time=stamp)
    reseller = generate_lines(lines, start_id=RESELLER_FIRST_LINE, seed=1, quota_time=stamp)
    return DemoAccounts(
        default=SimAccount(
            control_login=DEMO_LOGIN,
            control_password=DEMO_PASSWORD,
            lines=default,
            service_aliases=service_aliases(default),
        ),
        reseller=SimAccount(
            control_login=RESELLER_CONTROL_LOGIN,
            control_password=RESELLER_ACCOUNT_PASSWORD,
            lines=reseller,
            account_number=RESELLER_ACCOUNT_NUMBER,
            account_password=RESELLER_ACCOUNT_PASSWORD,
            service_aliases=service_aliases(reseller),
        ),
    )


#: The illustrative ``telephony/info`` declaration of docs/commands.md: the demo declares it,
#: and the tests of declared commands share it. Its reply shape is made up
#: (``tests/fixtures/illustrative-telephony-info.json``).
TELEPHONY_COMMAND = """
[commands."telephony/info"]
payload = "info"
key = "number"
info_metric = "aaisp_telephony_number_info"
info_labels = ["name"]

[[commands."telephony/info".gauges]]
field = "credit"
metric = "aaisp_telephony_credit_gbp"
help = "Prepaid credit of the number (CHAOS credit), in pounds sterling."
"""


def module_text(name: str, command: str, auth: str, **settings: object) -> str:
    """One ``[modules.NAME]`` table calling one command; ``settings`` are written as given
    (``timeout_seconds=10`` writes ``timeout_seconds = 10``)."""
    keys = "".join(f"{key} = {value}\n" for key, value in settings.items())
    return f'[modules.{name}]\ncommands = ["{command}"]\nauth = "{auth}"\n{keys}'


def tiers_text(auth: str, **settings: object) -> str:
    """The shipped modules.toml's two tiers, ``quota`` and ``line``, both with ``auth`` and
    the same settings: what the demo and the tests' configurations are built on."""
    return (
        module_text("quota", "broadband/quota", auth, **settings)
        + "\n"
        + module_text("line", "broadband/info", auth, **settings)
    )


def demo_config_text(chaos_url: str, accounts: DemoAccounts) -> str:
    """The demo's modules.toml: the two shipped tiers and the example's two credential sets."""
    default, reseller = accounts.default, accounts.reseller
    settings = {"timeout_seconds": 10, "cache_seconds": 60}
    tiers = tiers_text("default", **settings)
    phones = module_text("phones", "telephony/info", "default", **settings)
    telephony = TELEPHONY_COMMAND.lstrip("\n")
    return f"""\
[chaos]
url = "{chaos_url}"

# The credential sets examples/prometheus.yml names. The tiers use `default`; a probe with
# auth=reseller (file_sd and static targets of the example) uses the reseller's account.
[auths.default]
control_login = "{default.control_login}"
control_password = "{default.control_password}"

[auths.reseller]
account_number = "{reseller.account_number}"
account_password = "{reseller.account_password}"

{tiers}
# A declared command (docs/commands.md). ILLUSTRATIVE: the simulator's telephony/info reply is
# made up, as no public reply shows that command's shape.
{telephony}
{phones}"""


@dataclass
class Demo:
    simulator: Simulator
    loader: Callable[[], Config]
    example_paths: list[str]

    async def stop(self) -> None:
        await self.simulator.stop()


async def start_demo(lines: int = DEMO_LINES) -> Demo:
    accounts = demo_accounts(lines)
    simulator = Simulator(accounts.all())
    simulator.add_fault(  # the default account's numbers; the reseller has none
        Fault(
            "body",
            command="telephony/info",
            login=accounts.default.control_login,
            body=ILLUSTRATIVE_TELEPHONY,
        )
    )
    url = await simulator.start()
    text = demo_config_text(url, accounts)

    def loader() -> Config:
        return parse_config(text, source="<demo>")

    ids = [line["ID"] for line in accounts.default.lines]
    reseller_id = accounts.reseller.lines[0]["ID"]
    paths = [
        f"/probe?target={ids[0]}&module=line",
        f"/probe?target={ids[0]}&module=quota,line",
        f"/probe?target={reseller_id}&module=quota,line&auth=reseller",
        f"/probe?target={ids[1]}&module=line&debug=true",
        "/probe?target=99999&module=quota&debug=true",
        "/probe?target=01632960001&module=phones",
        "/discover?auth=default",
        "/discover?module=phones",
        "/",
    ]
    return Demo(simulator=simulator, loader=loader, example_paths=paths)
