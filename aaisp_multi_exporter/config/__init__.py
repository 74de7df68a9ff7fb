"""``modules.toml``: the modules (tiers), auths (credential sets) and commands, from one or
more files.

- ``models``: the pydantic models that are the configuration;
- ``tables``: the shape every table shares (no unknown keys, problems collected);
- ``credentials``: the inline, ``_file`` and ``_env`` forms of a credential;
- ``proxy``: ``[chaos] proxy_url`` taken apart, so its user and password stay secrets;
- ``commands``: ``[commands."<subsystem>/<command>"]`` tables, one at a time;
- ``command_rules``: one command's tables merged across files, and rules across commands;
- ``load``: files, globs and merging into one ``Config``;
- ``watch``: what a reload can see: the files to watch, the values only a restart changes;
- ``render``: the effective configuration as TOML, for ``/config``;
- ``problems``: how a problem is told, with file, table and key;
- ``secret``: a password that cannot leak by accident;
- ``example``: the shipped ``modules.toml``, for ``--config.example``.
"""

from aaisp_multi_exporter.config.commands import (
    DISCOVERY_LABELS,
    CommandDeclaration,
    GaugeDeclaration,
    builtin_declarations,
    normalise_field,
)
from aaisp_multi_exporter.config.credentials import CREDENTIAL_FIELDS, CredentialSource
from aaisp_multi_exporter.config.load import config_paths, load_config, parse_config
from aaisp_multi_exporter.config.models import (
    DEFAULT_CHAOS_URL,
    KNOWN_COMMANDS,
    AuthConfig,
    ChaosSettings,
    Config,
    ModuleConfig,
)
from aaisp_multi_exporter.config.problems import ConfigError, ProblemError
from aaisp_multi_exporter.config.render import render_config_toml, subset_config
from aaisp_multi_exporter.config.secret import REDACTED, Secret

__all__ = [
    "CREDENTIAL_FIELDS",
    "DEFAULT_CHAOS_URL",
    "DISCOVERY_LABELS",
    "KNOWN_COMMANDS",
    "REDACTED",
    "AuthConfig",
    "ChaosSettings",
    "CommandDeclaration",
    "Config",
    "ConfigError",
    "CredentialSource",
    "GaugeDeclaration",
    "ModuleConfig",
    "ProblemError",
    "Secret",
    "builtin_declarations",
    "config_paths",
    "load_config",
    "normalise_field",
    "parse_config",
    "render_config_toml",
    "subset_config",
]
