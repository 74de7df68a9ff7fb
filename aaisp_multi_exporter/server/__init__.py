"""What the endpoints serve and remember.

- ``app``: the app factory, its routes and the probe handler;
- ``state``: the configuration in force and the services every probe uses;
- ``reloads``: reloads the process starts itself (SIGHUP, ``--config.enable-auto-reload``);
- ``discovery``: Prometheus HTTP service discovery from CHAOS;
- ``pages``: what a person sees: the landing page and ``/logs``;
- ``history``: recent probes, in bounded memory;
- ``failing``: what is failing now, per target, module and credential set;
- ``rejections``: refused requests, in the log and on ``/``.
"""
