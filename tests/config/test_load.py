"""Loading files: one or several, globs, merging, relative paths, and reload re-reading them."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from aaisp_multi_exporter.config import (
    ConfigError,
    CredentialSource,
    Secret,
    load_config,
    render_config_toml,
)
from aaisp_multi_exporter.config.example import missing_file_hint
from tests.config.support import REPO_ROOT, TEST_ENV, TESTDATA
from tests.processes import running_exporter

EXAMPLE = REPO_ROOT / "examples" / "reseller"
AUTH = '[auths.{name}]\ncontrol_login = "{name}@a"\ncontrol_password = "pw"\n'
MODULE = '[modules.{name}]\ncommands = ["broadband/info"]\n'
CHAOS = '[chaos]\nurl = "http://127.0.0.1:9"\n'


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def problems(patterns: list[str], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(patterns, env=env or {})
    return info.value.problems


# --------------------------------------------------------------------------- one file


def test_load_config_names_the_file_as_given() -> None:
    path = TESTDATA / "invalid-retries-range.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env=TEST_ENV)
    assert info.value.problems == [
        f"{path}: modules.quota.retries: must be between 0 and 10, got 11",
    ]


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert problems([str(path)]) == [
        f"{path}: cannot read file: No such file or directory; to start from the commented "
        f"example, run: aaisp-multi-exporter --config.example > {path}"
    ]


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("modules.toml", "modules.toml"),
        ("/etc/aaisp-multi-exporter/modules.toml", "/etc/aaisp-multi-exporter/modules.toml"),
        ("my config.toml", "'my config.toml'"),
        ("$(touch x).toml", "'$(touch x).toml'"),
    ],
)
def test_missing_file_hint_is_a_command_to_paste(path: str, shown: str) -> None:
    """The file's name is quoted as a shell needs it, so the hint can be pasted as is."""
    assert missing_file_hint(path).endswith(f"aaisp-multi-exporter --config.example > {shown}")


def test_a_directory_is_not_told_to_get_the_example(tmp_path: Path) -> None:
    """Only a missing file gets the hint; one that cannot be read is told why, and that is all."""
    assert problems([str(tmp_path)]) == [f"{tmp_path}: cannot read file: Is a directory"]


def test_load_config_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_text('[auths.home]\ncontrol_login = ab12@a"\n')
    assert problems([str(path)]) == [f"{path}: invalid TOML: Invalid value (at line 2, column 17)"]


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "modules.toml"
    path.write_bytes(b'[auths.home]\ncontrol_login = "\xff"\n')
    assert problems([str(path)]) == [f"{path}: invalid TOML: not valid UTF-8 (at byte 30)"]


def test_load_config_resolves_files_next_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "conf",
        {
            "login": "ab12@a\n",
            "pw": "file-pw\n",
            "modules.toml": '[auths.home]\ncontrol_login_file = "login"\n'
            'control_password_file = "pw"\n' + MODULE.format(name="m"),
        },
    )
    monkeypatch.chdir(tmp_path)
    config = load_config("conf/modules.toml", env={})
    assert config.source == "conf/modules.toml"
    auth = config.auths["home"]
    assert auth.form_fields() == {"control_login": "ab12@a", "control_password": "file-pw"}
    assert auth.sources["control_password"] == CredentialSource("file", "conf/pw")


def test_files_are_read_again_at_every_load(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("old\n")
    (tmp_path / "modules.toml").write_text(
        '[auths.home]\ncontrol_login = "a"\ncontrol_password_file = "pw"\n'
        + MODULE.format(name="m")
    )
    first = load_config(tmp_path / "modules.toml")
    (tmp_path / "pw").write_text("new\n")
    second = load_config(tmp_path / "modules.toml")
    assert first.auths["home"].control_password == Secret("old")
    assert second.auths["home"].control_password == Secret("new")
    assert first.auths["home"] != second.auths["home"]


# --------------------------------------------------------------------------- several files


def test_files_are_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        {
            "modules.toml": CHAOS + MODULE.format(name="quota") + 'auth = "zeta"\n',
            "conf.d/zeta.toml": AUTH.format(name="zeta"),
            "conf.d/alpha.toml": AUTH.format(name="alpha") + MODULE.format(name="line"),
            "conf.d/notes.txt": "not matched by the pattern",
        },
    )
    # modules.toml is named twice (by itself and by the glob): it is read once.
    config = load_config(["modules.toml", "conf.d/*.toml", "*.toml"], env={})
    assert config.source == "modules.toml, conf.d/alpha.toml, conf.d/zeta.toml"
    assert config.chaos.url == "http://127.0.0.1:9"
    assert list(config.auths) == ["alpha", "zeta"]  # glob matches sorted
    assert list(config.modules) == ["quota", "line"]
    assert config.modules["quota"].auth == "zeta"  # a reference into another file
    assert config.origins == {
        "chaos": "modules.toml",
        "modules.quota": "modules.toml",
        "auths.alpha": "conf.d/alpha.toml",
        "modules.line": "conf.d/alpha.toml",
        "auths.zeta": "conf.d/zeta.toml",
    }
    rendered = render_config_toml(config)
    assert '# from "conf.d/zeta.toml"\n[auths.zeta]\n' in rendered
    assert '# from "modules.toml"\n[modules.quota]\n' in rendered
    assert '# from "modules.toml"\n[chaos]\n' in rendered


def test_relative_paths_are_read_next_to_the_file_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = 'control_login = "{0}@a"\ncontrol_password_file = "pw"\n'
    write(
        tmp_path,
        {
            "modules.toml": MODULE.format(name="m"),
            "a/pw": "a-pw\n",
            "a/a.toml": "[auths.a]\n" + secret.format("a"),
            "b/pw": "b-pw\n",
            "b/b.toml": "[auths.b]\n" + secret.format("b"),
        },
    )
    config = load_config(["modules.toml", "*/*.toml"], env={})
    assert config.auths["a"].form_fields()["control_password"] == "a-pw"
    assert config.auths["b"].form_fields()["control_password"] == "b-pw"
    assert config.auths["b"].sources["control_password"] == CredentialSource("file", "b/pw")


MULTI_INVALID: list[tuple[str, dict[str, str], list[str]]] = [
    (
        "credential-set-in-two-files",
        {
            "modules.toml": AUTH.format(name="home") + MODULE.format(name="m"),
            "conf.d/home.toml": AUTH.format(name="home"),
        },
        ['conf.d/home.toml: auths.home: already defined in "modules.toml"'],
    ),
    (
        "module-in-two-files",
        {
            "modules.toml": AUTH.format(name="home"),
            "conf.d/a.toml": MODULE.format(name="quota"),
            "conf.d/b.toml": MODULE.format(name="quota") + "retries = 11\n",
        },
        [
            'conf.d/b.toml: modules.quota: already defined in "conf.d/a.toml"',
            "conf.d/b.toml: modules.quota.retries: must be between 0 and 10, got 11",
        ],
    ),
    (
        "chaos-in-two-files",
        {
            "modules.toml": CHAOS + AUTH.format(name="home") + MODULE.format(name="m"),
            "conf.d/a.toml": CHAOS,
        },
        [
            'conf.d/a.toml: chaos: already defined in "modules.toml"; '
            "[chaos] may appear in one file only"
        ],
    ),
    (
        "pattern-matches-nothing",
        {"modules.toml": AUTH.format(name="home") + MODULE.format(name="m")},
        ["conf.d/*.toml: no file matches this pattern"],
    ),
    (
        "every-problem-of-every-file",
        {
            "modules.toml": MODULE.format(name="m") + 'auth = "acme"\nretries = 11\n',
            "conf.d/a.toml": AUTH.format(name="a") + "max_concurrency = 0\n",
            "conf.d/b.toml": "[auths.b]\ncontrol_login = 1\n",
        },
        [
            'modules.toml: modules.m.auth: unknown auth "acme"; known: a, b',
            "modules.toml: modules.m.retries: must be between 0 and 10, got 11",
            "conf.d/a.toml: auths.a.max_concurrency: must be between 1 and 64, got 0",
            "conf.d/b.toml: auths.b.control_login: expected a string, got integer",
            "conf.d/b.toml: auths.b: needs control_login and control_password, "
            "or account_number and account_password",
        ],
    ),
    (
        "one-file-unreadable",
        {
            "modules.toml": MODULE.format(name="m"),
            "conf.d/a.toml": "modules:\n  quota:\n",
        },
        [
            "conf.d/a.toml: invalid TOML: Expected '=' after a key in a key/value pair "
            "(at line 1, column 8); this looks like YAML, but the configuration is TOML: "
            "tables such as [modules.quota], keys such as retries = 2",
            # No "at least one credential set" here: it may be in the file that failed.
        ],
    ),
    (
        "nothing-anywhere",
        {"modules.toml": "", "conf.d/a.toml": "[auths]\n"},
        [
            "modules.toml, conf.d/a.toml: auths: at least one credential set is required",
            "modules.toml, conf.d/a.toml: modules: at least one module is required",
        ],
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [(files, expected) for _, files, expected in MULTI_INVALID],
    ids=[case_id for case_id, _, _ in MULTI_INVALID],
)
def test_several_files_invalid(
    files: dict[str, str], expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, files)
    assert problems(["modules.toml", "conf.d/*.toml"]) == expected


def test_a_missing_file_among_several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"conf.d/a.toml": "[auths.a]\n"})
    assert problems(["modules.toml", "conf.d/*.toml"]) == [
        "modules.toml: cannot read file: No such file or directory; to start from the "
        "commented example, run: aaisp-multi-exporter --config.example > modules.toml",
        "conf.d/a.toml: auths.a: needs control_login and control_password, "
        "or account_number and account_password",
    ]


# --------------------------------------------------------------------------- the reseller example


def reseller_copy(root: Path) -> dict[str, str]:
    """The example as shipped, plus the password file it expects; returns its environment."""
    shutil.copytree(EXAMPLE, root / "reseller")
    secrets = root / "reseller" / "conf.d" / "secrets"
    secrets.mkdir()
    (secrets / "bloggs-and-co").write_text("bloggs-pw\n")
    return {"ACME_WIDGETS_ACCOUNT": "A1234A", "ACME_WIDGETS_PASSWORD": "acme-pw"}


def test_reseller_example_loads(tmp_path: Path) -> None:
    env = reseller_copy(tmp_path)
    base = tmp_path / "reseller"
    config = load_config([str(base / "modules.toml"), str(base / "conf.d/*.toml")], env=env)
    assert list(config.auths) == ["acme-widgets", "bloggs-and-co"]
    assert list(config.modules) == ["quota", "line"]
    assert config.auths["acme-widgets"].form_fields() == {
        "account_number": "A1234A",
        "account_password": "acme-pw",
    }
    bloggs = config.auths["bloggs-and-co"]
    assert bloggs.form_fields() == {"control_login": "bloggs1@a", "control_password": "bloggs-pw"}
    assert bloggs.sources["control_password"].reference == str(
        base / "conf.d" / "secrets" / "bloggs-and-co"
    )
    assert all(module.auth is None for module in config.modules.values())


def test_reseller_example_passes_the_check(tmp_path: Path) -> None:
    env = reseller_copy(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aaisp_multi_exporter",
            "--config.check",
            "--config.file",
            "modules.toml",
            "--config.file",
            "conf.d/*.toml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path / "reseller",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "modules.toml, conf.d/acme-widgets.toml, conf.d/bloggs-and-co.toml: "
        "OK (2 credential set(s), 2 module(s))\n"
    )


# --------------------------------------------------------------------------- reload


async def test_reload_reads_the_globs_again(tmp_path: Path) -> None:
    """A customer file added or removed is seen by the next reload, POST or SIGHUP."""
    write(
        tmp_path,
        {
            "modules.toml": CHAOS + MODULE.format(name="line"),
            "conf.d/a.toml": AUTH.format(name="a"),
        },
    )
    files = ["--config.file", str(tmp_path / "modules.toml")]
    files += ["--config.file", str(tmp_path / "conf.d" / "*.toml")]
    async with running_exporter(*files) as process, aiohttp.ClientSession() as http:

        async def shown() -> str:
            async with http.get(process.url + "/config") as response:
                return await response.text()

        assert "[auths.b]" not in await shown()
        write(tmp_path, {"conf.d/b.toml": AUTH.format(name="b")})
        async with http.post(process.url + "/-/reload") as response:
            assert (response.status, await response.text()) == (200, "configuration reloaded\n")
        text = await shown()
        assert f"# from {str(tmp_path / 'conf.d' / 'b.toml')!r}".replace("'", '"') in text
        assert "\n[auths.b]\n" in text

        (tmp_path / "conf.d" / "a.toml").unlink()
        (tmp_path / "conf.d" / "b.toml").unlink()
        process.proc.send_signal(signal.SIGHUP)
        line = await process.wait_for_log("reload on SIGHUP failed")
        assert "conf.d/*.toml: no file matches this pattern" in line
        assert "\n[auths.b]\n" in await shown()  # the running configuration stays

        write(tmp_path, {"conf.d/c.toml": AUTH.format(name="c")})
        process.proc.send_signal(signal.SIGHUP)
        await process.wait_for_log("configuration reloaded on SIGHUP")
        text = await shown()
        assert "\n[auths.c]\n" in text
        assert "[auths.a]" not in text
        assert "[auths.b]" not in text
