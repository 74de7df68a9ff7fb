"""What a reload can see (``config/watch.py``): the checksum ``--config.enable-auto-reload``
compares, and the values only a restart changes. The reloads themselves run on the real
process in ``tests/test_autoreload.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import load_config
from aaisp_multi_exporter.config.watch import RestartBound, checksum, restart_bound, secret_files

MODULE = '[modules.m]\ncommands = ["broadband/info"]\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_restart_bound_names_env_sets_and_systemd_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    write(credentials / "password", "S3NTINEL\n")
    write(tmp_path / "plain", "S3NTINEL\n")
    config = load_config(
        write(
            tmp_path / "modules.toml",
            '[chaos]\nproxy_url_env = "SITE_PROXY"\n'
            '[auths.env]\ncontrol_login_env = "LOGIN"\ncontrol_password_env = "PASSWORD"\n'
            f'[auths.systemd]\ncontrol_login = "a@a"\n'
            f'control_password_file = "{credentials}/password"\n'
            '[auths.file]\ncontrol_login = "b@a"\ncontrol_password_file = "plain"\n'
            '[auths.inline]\ncontrol_login = "c@a"\ncontrol_password = "S3NTINEL"\n' + MODULE,
        ),
        env={"LOGIN": "x@a", "PASSWORD": "S3NTINEL", "SITE_PROXY": "http://p:1"},
    )
    environ = {"CREDENTIALS_DIRECTORY": str(credentials)}
    from_env = "read from the environment, which only a restart changes"
    assert restart_bound(config, environ) == [
        RestartBound("auths.env", ("control_login_env", "control_password_env"), from_env),
        RestartBound(
            "auths.systemd",
            ("control_password_file",),
            "a systemd credential, copied when the service starts (RefreshOnReload= aside)",
        ),
        RestartBound("chaos", ("proxy_url_env",), from_env),
    ]
    # Outside systemd, a file is a file: a reload reads it again.
    assert [bound.table for bound in restart_bound(config, {})] == ["auths.env", "chaos"]
    assert secret_files(config) == [f"{credentials}/password", str(tmp_path / "plain")]


Edit = Callable[[Path], None]


def _edit_config(root: Path) -> None:
    write(root / "conf.d" / "a.toml", '[auths.a]\ncontrol_login = "a@a"\ncontrol_password = "y"\n')


def _add_file(root: Path) -> None:
    write(root / "conf.d" / "b.toml", '[auths.b]\ncontrol_login = "b@a"\ncontrol_password = "x"\n')


def _remove_file(root: Path) -> None:
    (root / "conf.d" / "a.toml").unlink()


def _rotate_secret(root: Path) -> None:
    write(root / "secret", "another\n")


def _touch(root: Path) -> None:
    (root / "modules.toml").touch()


@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        (_edit_config, True),
        (_add_file, True),
        (_remove_file, True),
        (_rotate_secret, True),
        (_touch, False),
    ],
    ids=["edit", "glob-gains-a-file", "glob-loses-a-file", "secret-rotated", "mtime-only"],
)
def test_checksum_follows_what_a_reload_would_read(
    tmp_path: Path, edit: Edit, changed: bool
) -> None:
    write(
        tmp_path / "modules.toml",
        '[auths.home]\ncontrol_login = "h@a"\ncontrol_password_file = "secret"\n' + MODULE,
    )
    write(tmp_path / "secret", "S3NTINEL\n")
    write(
        tmp_path / "conf.d" / "a.toml", '[auths.a]\ncontrol_login = "a@a"\ncontrol_password = "x"\n'
    )
    patterns = [str(tmp_path / "modules.toml"), str(tmp_path / "conf.d" / "*.toml")]
    config = load_config(patterns)
    before = checksum(patterns, config)
    assert checksum(patterns, config) == before
    edit(tmp_path)
    assert (checksum(patterns, config) != before) is changed
