"""The HTTP server around the exporter: where it listens, which connections it keeps, and
``--web.config.file`` (exporter-toolkit's TLS and basic auth).

One module per job, following exporter-toolkit's ``web/`` (``tls_config.go``, ``handler.go``,
``cache.go``), with loading split from the schema as in ``config/``:

- ``config``: the file's keys as pydantic models (``WebConfig``, ``TLSSettings``), validated
  as ``modules.toml`` is, with the same problem reporting (``config/problems.py``);
- ``load``: bytes to YAML to models, every problem at once, in file order;
- ``tls``: the listener's ``SSLContext`` and certificate loading;
- ``watcher``: the config in force, re-read when its files change, certificates rotated live,
  and the configured response headers (an ``on_response_prepare`` signal);
- ``auth``: the ``Authorization`` header, bcrypt off the loop, its two caches, the middleware;
- ``listener``: ``--web.listen-address`` (one listener each), ``--web.systemd-socket`` and
  the bound sockets;
- ``paths``: ``--web.external-url`` and ``--web.route-prefix``, where the routes live;
- ``connections``: the connection limit, the request-head deadline, quiet accept errors;
- ``malformed``: requests aiohttp cannot parse, counted and logged once per interval.

The watcher and the authenticator are apart because they change for different reasons: one
follows a file, the other guards a thread and two caches that outlive any one file.
"""

from aaisp_multi_exporter.web.auth import Authenticator, AuthResult, basic_auth_middleware
from aaisp_multi_exporter.web.config import TLSSettings, WebConfig, WebConfigError
from aaisp_multi_exporter.web.load import load_web_config
from aaisp_multi_exporter.web.watcher import WebConfigWatcher

__all__ = [
    "AuthResult",
    "Authenticator",
    "TLSSettings",
    "WebConfig",
    "WebConfigError",
    "WebConfigWatcher",
    "basic_auth_middleware",
    "load_web_config",
]
