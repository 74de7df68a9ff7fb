"""``python -m aaisp_multi_exporter``."""

from aaisp_multi_exporter.cli import main

raise SystemExit(main())
