"""The effective configuration as TOML, for ``GET /config`` and debug answers.

Driven by the models: every field a file may set is rendered, defaults filled in, so a new
key shows up here with no edit. Secrets never appear: an inline password is ``"<secret>"``,
a credential read from a file or variable shows where it came from, not what was read.
"""

from __future__ import annotations

from collections.abc import Iterable

from aaisp_multi_exporter.config.commands import (
    CommandDeclaration,
    GaugeDeclaration,
    builtin_declarations,
)
from aaisp_multi_exporter.config.credentials import (
    CREDENTIAL_FIELDS,
    SECRET_FIELDS,
    CredentialSource,
)
from aaisp_multi_exporter.config.models import (
    AuthConfig,
    ChaosSettings,
    Config,
    ModuleConfig,
    Unset,
)
from aaisp_multi_exporter.config.problems import quote, toml_key, toml_value
from aaisp_multi_exporter.config.secret import REDACTED

__all__ = ["render_config_toml", "subset_config"]

_Table = ChaosSettings | AuthConfig | ModuleConfig


def render_config_toml(config: Config) -> str:
    """The configuration in force, as loadable TOML with a comment naming each table's file."""
    lines = [
        f"# Effective configuration loaded from {quote(config.source)}.",
        f"# Secrets are shown as {quote(REDACTED)}; *_file and *_env keys show their source.",
    ]
    tables: list[tuple[str, _Table]] = [("chaos", config.chaos)]
    tables += [(f"auths.{toml_key(name)}", auth) for name, auth in config.auths.items()]
    tables += [(f"modules.{toml_key(name)}", module) for name, module in config.modules.items()]
    for header, table in tables:
        lines.append("")
        if header in config.origins:
            lines.append(f"# from {quote(config.origins[header])}")
        elif header == "chaos":
            lines.append("# in no file: the defaults apply")
        lines += [f"[{header}]", *_keys(table)]
    for section in ("auths", "modules"):
        if not getattr(config, section):
            lines += ["", f"[{section}]"]
    lines += _commands(config)
    return "\n".join(lines) + "\n"


def _commands(config: Config) -> list[str]:
    """The declared commands, and the gauges added to built-ins (the built-ins' own tables
    are the package's, docs/commands.md)."""
    builtin = builtin_declarations()
    lines: list[str] = []
    for name, declaration in config.commands.items():
        header = f"commands.{toml_key(name)}"
        base = builtin.get(name)
        gauges = declaration.gauges[len(base.gauges) :] if base is not None else declaration.gauges
        if base is not None and not gauges:
            continue
        lines.append("")
        if header in config.origins:
            lines.append(f"# from {quote(config.origins[header])}")
        if base is None:
            lines += [f"[{header}]", *_declared_keys(declaration)]
        for gauge in gauges:
            lines += ["", f"[[{header}.gauges]]", *_declared_keys(gauge)]
    return lines


def _declared_keys(table: CommandDeclaration | GaugeDeclaration) -> list[str]:
    """Every key of a command or gauge table that has a value, in the model's order."""
    lines = []
    for key, info in type(table).model_fields.items():
        value = getattr(table, key)
        if info.exclude or key == "gauges" or value is None or value == ():
            continue
        lines.append(f"{key} = {toml_value(value)}")
    return lines


def subset_config(config: Config, *, modules: Iterable[str], auths: Iterable[str]) -> Config:
    """The part of ``config`` one probe used, for its debug answer; names in the order given.

    An unknown name is a KeyError: callers take names from this same configuration.
    """
    used = {name: config.modules[name] for name in modules}
    commands = {command for module in used.values() for command in module.commands}
    return config.model_copy(
        update={
            "auths": {name: config.auths[name] for name in auths},
            "modules": used,
            "commands": {
                name: table for name, table in config.commands.items() if name in commands
            },
        }
    )


def _keys(table: _Table) -> list[str]:
    """Every key a file may set, in the model's order; one left unset is a comment."""
    lines = _credentials(table) if isinstance(table, AuthConfig) else []
    for key, info in type(table).model_fields.items():
        if info.exclude or key in CREDENTIAL_FIELDS:
            continue
        value = getattr(table, key)
        if isinstance(table, ChaosSettings) and key == "proxy_url" and value is not None:
            lines.append(_proxy(table))
        elif value is None:
            meaning = next((item.meaning for item in info.metadata if isinstance(item, Unset)), "")
            lines.append(f"# {key}: not set" + (f"; {meaning}" if meaning else ""))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return lines


def _proxy(chaos: ChaosSettings) -> str:
    """Inline: the URL with its user and password as ``<secret>``; else where it was read."""
    source = chaos.proxy_source or CredentialSource("inline")
    if source.kind != "inline":
        return f"proxy_url_{source.kind} = {toml_value(source.reference or '')}"
    proxy = chaos.proxy
    return f"proxy_url = {toml_value(REDACTED if proxy is None else proxy.shown)}"


def _credentials(auth: AuthConfig) -> list[str]:
    lines = []
    for name in CREDENTIAL_FIELDS:
        text = auth.credential_text(name)
        if text is None:
            continue
        source = auth.sources.get(name, CredentialSource("inline"))
        if source.kind == "inline":
            lines.append(f"{name} = {toml_value(REDACTED if name in SECRET_FIELDS else text)}")
        else:
            lines.append(f"{name}_{source.kind} = {toml_value(source.reference or '')}")
    return lines
