"""How configuration problems are told: exact messages, suggestions, and never a secret.

Invalid configurations live in ``testdata/invalid-*.toml``, one case per file, each with its
exact list of messages (blackbox_exporter's ``config_test.go`` habit): a change in wording is a
change in the operator-facing contract and should show up here.
"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from aaisp_multi_exporter.config import ConfigError, ProblemError, parse_config
from aaisp_multi_exporter.config.problems import (
    describe,
    did_you_mean,
    format_path,
    quote,
    toml_value,
)
from tests.config.support import MINIMAL, TEST_ENV, TESTDATA, auth_with, problems_of

SENTINEL = "S3NTINEL-pa55"
ALLOWED = "allowed: broadband/info, broadband/quota"
#: A command that changes a line is never called, declared or not.
NOT_READ_ONLY = (
    '"kill" is not a read-only command, and the exporter never calls one that changes a line; '
    "read-only: info, quota, services, usage, ratecard"
)
#: A read-only command that is not built in can be declared (docs/commands.md).
DECLARE_USAGE = 'declare it as [commands."broadband/usage"] to read it'
NEEDS_PAIR = "needs control_login and control_password, or account_number and account_password"
BAD_NAME = "invalid name; use 1 to 64 characters of A-Z, a-z, 0-9, _ and -"
NOT_SET = "names an environment variable that is not set"
NO_FILE = "names a file that cannot be read: No such file or directory"
YAML_HINT = (
    "this looks like YAML, but the configuration is TOML: "
    "tables such as [modules.quota], keys such as retries = 2"
)

# --------------------------------------------------------------------------- invalid files

INVALID: dict[str, list[str]] = {
    "unknown-key": [
        'modules.toml: auths.home.control_pasword: unknown key; did you mean "control_password"?',
        f"modules.toml: auths.home: {NEEDS_PAIR}",
    ],
    "unknown-keys-everywhere": [
        "modules.toml: prober: unknown key",
        "modules.toml: chaos.timeout: unknown key",
        "modules.toml: auths.home.password_file: unknown key; "
        'did you mean "control_password_file"?',
        'modules.toml: modules.quota.timeout: unknown key; did you mean "timeout_seconds"?',
    ],
    "did-you-mean": [
        'modules.toml: module: unknown table; did you mean "modules"?',
        'modules.toml: auths.home.max_concurency: unknown key; did you mean "max_concurrency"?',
        'modules.toml: modules.line.commands: unknown command "broadband/inf"; '
        f'{ALLOWED}; did you mean "broadband/info"?',
        'modules.toml: modules.line.auth: unknown auth "hom"; known: home; did you mean "home"?',
        'modules.toml: modules.line.retrys: unknown key; did you mean "retries"?',
        'modules.toml: modules.line.scope: must be "account" or "line", got string "acount"; '
        'did you mean "account"?',
        'modules.toml: modules.line.refresh-ahead: unknown key; did you mean "refresh_ahead"?',
    ],
    "yaml-blackbox": [
        "modules.toml: invalid TOML: Expected '=' after a key in a key/value pair "
        f"(at line 1, column 8); {YAML_HINT}",
    ],
    "reserved-keys": [
        "modules.toml: auths.home.name: unknown key",
        "modules.toml: auths.home.sources: unknown key",
        "modules.toml: modules.quota.name: unknown key",
    ],
    "retries-range": [
        "modules.toml: modules.quota.retries: must be between 0 and 10, got 11",
    ],
    "retries-bool": [
        "modules.toml: modules.quota.retries: expected an integer, got boolean true",
    ],
    "refresh-ahead": [
        'modules.toml: modules.quota.refresh_ahead: expected a boolean, got string "yes"',
        "modules.toml: modules.line.refresh_ahead: expected a boolean, got integer 1",
    ],
    "timeout-string": [
        'modules.toml: modules.quota.timeout_seconds: expected a number, got string "10"',
    ],
    "number-ranges": [
        "modules.toml: auths.home.max_concurrency: must be between 1 and 64, got 65",
        "modules.toml: modules.quota.timeout_seconds: "
        "must be greater than 0 and at most 600, got 0",
        "modules.toml: modules.quota.cache_seconds: must be between 0 and 86400, got -1",
        "modules.toml: modules.quota.retries: must be between 0 and 10, got -1",
        "modules.toml: modules.line.timeout_seconds: "
        "must be greater than 0 and at most 600, got 600.5",
        "modules.toml: modules.line.cache_seconds: must be between 0 and 86400, got 86401",
    ],
    "not-finite": [
        "modules.toml: modules.quota.timeout_seconds: must be a finite number, got float nan",
        "modules.toml: modules.quota.cache_seconds: must be a finite number, got float inf",
    ],
    "int-fields-float": [
        "modules.toml: auths.home.max_concurrency: expected an integer, got float 4.0",
        "modules.toml: modules.quota.retries: expected an integer, got float 2.5",
    ],
    "scope": [
        'modules.toml: modules.quota.scope: must be "account" or "line", got string "service"',
    ],
    "unknown-command": [
        # "broadband/" alone makes no near miss: no suggestion of an unrelated command.
        'modules.toml: modules.quota.commands: unknown command "broadband/kill"; '
        f"{ALLOWED}; {NOT_READ_ONLY}",
        'modules.toml: modules.quota.commands: unknown command "broadband/usage"; '
        f"{ALLOWED}; {DECLARE_USAGE}",
    ],
    "duplicate-command": [
        'modules.toml: modules.quota.commands: duplicate command "broadband/quota"',
    ],
    "empty-commands": [
        f"modules.toml: modules.quota.commands: at least one command is required; {ALLOWED}",
        f"modules.toml: modules.line.commands: at least one command is required; {ALLOWED}",
    ],
    "commands-type": [
        'modules.toml: modules.quota.commands: expected an array, got string "broadband/quota"',
        "modules.toml: modules.line.commands[1]: expected a string, got integer 5",
        'modules.toml: modules.line.commands: unknown command "broadband/kill"; '
        f"{ALLOWED}; {NOT_READ_ONLY}",
    ],
    "unknown-auth": [
        'modules.toml: modules.quota.auth: unknown auth "nope"; known: home, reseller',
    ],
    "two-password-forms": [
        "modules.toml: auths.home.control_password: give only one of "
        "control_password, control_password_file, control_password_env",
        "modules.toml: auths.reseller.account_number: give only one of "
        "account_number, account_number_file, account_number_env",
    ],
    # The value of a credential key is never echoed, whatever its form, so neither a
    # variable name nor a path appears (either may be a password pasted into the wrong key).
    "env-missing": [
        f"modules.toml: auths.home.control_password_env: {NOT_SET}",
    ],
    "env-empty": [
        "modules.toml: auths.home.control_password_env: "
        "names an environment variable that is empty",
    ],
    "file-missing": [
        f"modules.toml: auths.home.control_password_file: {NO_FILE}",
    ],
    "misplaced-credentials": [
        f"modules.toml: auths.env.account_password_env: {NOT_SET}",
        f"modules.toml: auths.file.control_password_file: {NO_FILE}",
        f"modules.toml: auths.login.control_login_env: {NOT_SET}",
        "modules.toml: auths.misspelt.account_pasword_env: unknown key; "
        'did you mean "account_password_env"?',
        "modules.toml: auths.misspelt: account_number needs account_password",
        "modules.toml: auths.wrong-type.account_number: expected a string, got table",
        "modules.toml: auths.wrong-type.account_password_file: expected a string, got array",
    ],
    "empty-strings": [
        "modules.toml: auths.home.control_login: must not be empty",
        "modules.toml: auths.home.control_password_file: must not be empty",
        "modules.toml: auths.reseller.account_number_env: must not be empty",
    ],
    "login-only": [
        f"modules.toml: auths.home: {NEEDS_PAIR}",
        f"modules.toml: auths.empty: {NEEDS_PAIR}",
    ],
    "pairs": [
        "modules.toml: auths.nologin: control_password needs control_login",
        "modules.toml: auths.nopassword: account_number needs account_password",
        "modules.toml: auths.nonumber: account_password needs account_number",
        "modules.toml: auths.both: give control_login and control_password, or account_number "
        "and account_password (optionally with control_login), not both",
    ],
    "password-wrong-type": [
        "modules.toml: auths.home.control_password: expected a string, got integer",
        # An account number is a credential too: its value is not shown either.
        "modules.toml: auths.reseller.account_number: expected a string, got integer",
        "modules.toml: auths.reseller.account_password: expected a string, got array",
    ],
    "no-modules": [
        "modules.toml: modules: at least one module is required",
    ],
    "empty-file": [
        "modules.toml: auths: at least one credential set is required",
        "modules.toml: modules: at least one module is required",
    ],
    "empty-tables": [
        "modules.toml: auths: at least one credential set is required",
        "modules.toml: modules: at least one module is required",
    ],
    "table-types": [
        'modules.toml: chaos: expected a table, got string "https://chaos2.aa.net.uk"',
        "modules.toml: auths: expected a table, got string",
        "modules.toml: modules: expected a table, got array",
    ],
    "entry-types": [
        "modules.toml: auths.home: expected a table, got string",
        'modules.toml: modules.quota: expected a table, got string "broadband/quota"',
    ],
    "names": [
        f'modules.toml: auths."home auth": {BAD_NAME}',
        f'modules.toml: auths."": {BAD_NAME}',
        f'modules.toml: modules."quota.tier": {BAD_NAME}',
        "modules.toml: modules."
        f"a-name-that-is-much-too-long-to-be-a-label-value-in-a-url-or-label: {BAD_NAME}",
    ],
    "url-scheme": [
        'modules.toml: chaos.url: must be an http:// or https:// URL, got "ftp://chaos2.aa.net.uk"',
    ],
    "url-userinfo": [
        "modules.toml: chaos.url: must not contain a user name or password",
    ],
    "url-query": [
        "modules.toml: chaos.url: must not contain a query string, "
        'got "https://chaos2.aa.net.uk/?control_login=ab12@a"',
    ],
    "url-no-host": [
        'modules.toml: chaos.url: must name a host, got "https:///broadband"',
    ],
    "many-problems": [
        'modules.toml: chaos.url: must be an http:// or https:// URL, got "chaos2.aa.net.uk"',
        f"modules.toml: auths.home.control_password_file: {NO_FILE}",
        "modules.toml: auths.home.max_concurrency: must be between 1 and 64, got 0",
        f"modules.toml: auths.reseller.account_number_env: {NOT_SET}",
        "modules.toml: auths.reseller: account_number needs account_password",
        'modules.toml: modules.quota.commands: unknown command "broadband/kill"; '
        f"{ALLOWED}; {NOT_READ_ONLY}",
        'modules.toml: modules.quota.auth: unknown auth "homer"; known: home, reseller; '
        'did you mean "home"?',
        'modules.toml: modules.quota.timeout_seconds: expected a number, got string "20"',
        "modules.toml: modules.quota.retries: must be between 0 and 10, got 11",
        'modules.toml: modules.quota.scope: must be "account" or "line", got string "Account"; '
        'did you mean "account"?',
        f"modules.toml: modules.line.commands: at least one command is required; {ALLOWED}",
        "modules.toml: modules.line.cache_seconds: expected a number, got boolean true",
    ],
}


def test_every_invalid_file_has_expectations() -> None:
    files = {
        path.name.removeprefix("invalid-").removesuffix(".toml")
        for path in TESTDATA.glob("invalid-*.toml")
    }
    assert files == set(INVALID)


@pytest.mark.parametrize(("name", "expected"), list(INVALID.items()), ids=list(INVALID))
def test_invalid_file(name: str, expected: list[str]) -> None:
    text = (TESTDATA / f"invalid-{name}.toml").read_text()
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=TEST_ENV, base_dir=TESTDATA)
    assert info.value.problems == expected
    assert str(info.value) == "\n".join(expected)


def test_misplaced_credentials_are_never_echoed() -> None:
    text = (TESTDATA / "invalid-misplaced-credentials.toml").read_text()
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=TEST_ENV, base_dir=TESTDATA)
    assert "hunter2" in text
    assert_not_leaked(info.value, "hunter2")


# --------------------------------------------------------------------------- inline invalid cases

INLINE_INVALID: list[tuple[str, str, list[str]]] = [
    (
        "bad-port",
        '[chaos]\nurl = "http://localhost:99999"\n' + MINIMAL,
        ['modules.toml: chaos.url: invalid port, got "http://localhost:99999"'],
    ),
    (
        "fragment",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/#x"\n' + MINIMAL,
        ['modules.toml: chaos.url: must not contain a fragment, got "https://chaos2.aa.net.uk/#x"'],
    ),
    (
        "url-space",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/a b"\n' + MINIMAL,
        [
            "modules.toml: chaos.url: must not contain spaces or control characters, "
            'got "https://chaos2.aa.net.uk/a b"'
        ],
    ),
    (
        "url-control-character-escaped",
        '[chaos]\nurl = "https://chaos2.aa.net.uk/\\u001b[31m"\n' + MINIMAL,
        [
            "modules.toml: chaos.url: must not contain spaces or control characters, "
            'got "https://chaos2.aa.net.uk/\\u001B[31m"'
        ],
    ),
    (
        "url-type",
        "[chaos]\nurl = 443\n" + MINIMAL,
        ["modules.toml: chaos.url: expected a string, got integer 443"],
    ),
    (
        "name-65-chars",
        MINIMAL + f"[modules.{'m' * 65}]\ncommands = ['broadband/info']\n",
        [f"modules.toml: modules.{'m' * 65}: {BAD_NAME}"],
    ),
    (
        "date-value",
        MINIMAL + "timeout_seconds = 1979-05-27T07:32:00Z\n",
        ["modules.toml: modules.quota.timeout_seconds: expected a number, got date-time"],
    ),
    (
        "table-value",
        MINIMAL + "retries = {count = 2}\n",
        ["modules.toml: modules.quota.retries: expected an integer, got table"],
    ),
    (
        "long-string-shortened",
        MINIMAL + f'scope = "{"x" * 100}"\n',
        [
            'modules.toml: modules.quota.scope: must be "account" or "line", '
            f'got string "{"x" * 80}..."'
        ],
    ),
    (
        "source-used-as-prefix",
        "",
        [
            "modules.toml: auths: at least one credential set is required",
            "modules.toml: modules: at least one module is required",
        ],
    ),
    (
        "yaml-document-marker",
        "---\nmodules:\n  quota: {}\n",
        [
            "modules.toml: invalid TOML: Expected '=' after a key in a key/value pair "
            f"(at line 1, column 4); {YAML_HINT}"
        ],
    ),
    (
        "yaml-list",
        "# a file_sd list\n- targets: ['1']\n",
        [
            "modules.toml: invalid TOML: Expected '=' after a key in a key/value pair "
            f"(at line 2, column 3); {YAML_HINT}"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in INLINE_INVALID],
    ids=[case_id for case_id, _, _ in INLINE_INVALID],
)
def test_invalid_inline(text: str, expected: list[str]) -> None:
    assert problems_of(text, env={}) == expected


def test_source_names_the_file_in_every_message() -> None:
    problems = problems_of("", source="/etc/aaisp/modules.toml")
    assert problems == [
        "/etc/aaisp/modules.toml: auths: at least one credential set is required",
        "/etc/aaisp/modules.toml: modules: at least one module is required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[auths.home\ncontrol_login = "x"\n',
            "Expected ']' at the end of a table declaration (at line 1, column 12)",
        ),
        # A TOML mistake with a colon in it is no YAML file: no hint.
        ('[chaos]\nurl: "https://x"\n', "Expected '=' after a key in a key/value pair"),
        ('url = "https://x" # see: http\nretries:\n', "Expected '=' after a key"),
    ],
    ids=["table", "colon-after-a-table", "toml-first-line"],
)
def test_invalid_toml_without_yaml_hint(text: str, expected: str) -> None:
    [problem] = problems_of(text)
    assert problem.startswith(f"modules.toml: invalid TOML: {expected}")
    assert "YAML" not in problem


def test_duplicate_table_is_a_toml_error() -> None:
    problems = problems_of(MINIMAL + '[auths.home]\ncontrol_login = "x"\n')
    assert len(problems) == 1
    assert problems[0].startswith("modules.toml: invalid TOML: ")


# --------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("control_pasword", ["control_password", "control_password_file"], "control_password"),
        (
            "account_pasword_env",
            ["account_password", "account_password_env"],
            "account_password_env",
        ),
        ("module", ["chaos", "auths", "modules"], "modules"),
        ("auth", ["chaos", "auths", "modules"], "auths"),
        ("prober", ["chaos", "auths", "modules"], None),
        ("", ["chaos"], None),
        ("anything", [], None),
    ],
)
def test_did_you_mean(word: str, choices: list[str], expected: str | None) -> None:
    assert did_you_mean(word, choices) == (f'; did you mean "{expected}"?' if expected else "")


def test_did_you_mean_cutoff_for_a_shared_prefix() -> None:
    commands = ["broadband/info", "broadband/quota"]
    assert did_you_mean("broadband/kill", commands) == '; did you mean "broadband/info"?'
    assert did_you_mean("broadband/kill", commands, cutoff=0.85) == ""
    assert did_you_mean("broadband/quot", commands, cutoff=0.85) == (
        '; did you mean "broadband/quota"?'
    )


@pytest.mark.parametrize(
    ("value", "shown", "hidden"),
    [
        (True, "boolean true", "boolean"),
        (5, "integer 5", "integer"),
        (2.5, "float 2.5", "float"),
        (float("inf"), "float inf", "float"),
        ("x" * 81, f'string "{"x" * 80}..."', "string"),
        ('a"b\n', 'string "a\\"b\\n"', "string"),
        ([1], "array", "array"),
        ({"a": 1}, "table", "table"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "date-time", "date-time"),
        (dt.date(2024, 1, 1), "date", "date"),
        (dt.time(1, 2), "time", "time"),
        (None, "null", "null"),
    ],
)
def test_describe(value: object, shown: str, hidden: str) -> None:
    assert describe(value) == shown
    assert describe(value, show=False) == hidden


def test_describe_in_yaml_words() -> None:
    assert describe({}, dialect="yaml") == "mapping"
    assert describe([], dialect="yaml") == "list"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('a "q" \\', '"a \\"q\\" \\\\"'),
        ("\t\n\r\b\f", '"\\t\\n\\r\\b\\f"'),
        ("\x1b\x7f", '"\\u001B\\u007F"'),
        ("\udcff", '"\\uFFFD"'),
        ("é", '"é"'),
    ],
)
def test_quote(text: str, expected: str) -> None:
    assert quote(text) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("auths", "home", "control_login"), "auths.home.control_login"),
        (("modules", "quota", "commands", 0), "modules.quota.commands[0]"),
        (("auths", "home auth"), 'auths."home auth"'),
        (("modules", ""), 'modules.""'),
    ],
)
def test_format_path(path: tuple[str | int, ...], expected: str) -> None:
    assert format_path(path) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", '"a"'),
        (True, "true"),
        (3, "3"),
        (2.0, "2.0"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (("a", "b"), '["a", "b"]'),
    ],
)
def test_toml_value(value: object, expected: str) -> None:
    assert toml_value(value) == expected


def test_problem_errors_survive_pickling() -> None:
    for error in (ConfigError(["a: b: c", "d: e: f"]), ProblemError(["x"])):
        restored = pickle.loads(pickle.dumps(error))
        assert type(restored) is type(error)
        assert restored.problems == error.problems
        assert str(restored) == "\n".join(error.problems)
    assert issubclass(ConfigError, ProblemError)


# --------------------------------------------------------------------------- secrets never leak

SENTINEL_BROKEN: list[tuple[str, str]] = [
    ("inline-with-other-error", f'control_password = "{SENTINEL}"\nmax_concurrency = 0'),
    ("in-unknown-key", f'control_pasword = "{SENTINEL}"'),
    ("in-misspelt-env-key", f'control_pasword_env = "{SENTINEL}"'),
    ("in-env-key", f'control_password_env = "{SENTINEL}"'),
    ("in-file-key", f'control_password_file = "{SENTINEL}"'),
    ("in-login-env-key", f'control_login_env = "{SENTINEL}"\ncontrol_password = "x"'),
    ("in-number-file-key", f'account_number_file = "{SENTINEL}"\naccount_password = "x"'),
    ("wrong-type-array", f'control_password = ["{SENTINEL}"]'),
    ("wrong-type-table", f'control_password = {{ value = "{SENTINEL}" }}'),
    ("env-key-wrong-type", f'control_password_env = ["{SENTINEL}"]'),
    ("two-forms-inline-and-env", f'control_password = "{SENTINEL}"\ncontrol_password_env = "PW"'),
    ("two-forms-file-and-env", 'control_password_file = "secret"\ncontrol_password_env = "PW"'),
    ("env-with-other-error", 'control_password_env = "PW"\nmax_concurrency = "x"'),
    ("file-with-other-error", 'control_password_file = "secret"\nmax_concurrency = 99'),
    ("account-password-without-number", f'account_password = "{SENTINEL}"'),
    ("account-password-wrong-type", f'account_number = "A1"\naccount_password = ["{SENTINEL}"]'),
    (
        "account-password-in-both-pairs",
        f'control_password = "x"\naccount_number = "A1"\naccount_password = "{SENTINEL}"',
    ),
]


@pytest.mark.parametrize(
    "line", [line for _, line in SENTINEL_BROKEN], ids=[case_id for case_id, _ in SENTINEL_BROKEN]
)
def test_sentinel_not_in_errors(line: str, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SENTINEL)
    with pytest.raises(ConfigError) as info:
        parse_config(auth_with(line), env={"PW": SENTINEL}, base_dir=tmp_path)
    assert_not_leaked(info.value, SENTINEL)


@pytest.mark.parametrize(
    "text",
    [
        f'[chaos]\nurl = "https://ab12:{SENTINEL}@chaos2.aa.net.uk"\n' + MINIMAL,
        f'[chaos]\nurl = "ftp://ab12:{SENTINEL}@chaos2.aa.net.uk/?x#y"\n' + MINIMAL,
        f'[chaos]\nurl = "http://ab12:{SENTINEL}@[::1"\n' + MINIMAL,
        f'[auths]\nhome = "{SENTINEL}"\n[modules.m]\ncommands = ["broadband/info"]\n',
        f'auths = "{SENTINEL}"\n[modules.m]\ncommands = ["broadband/info"]\n',
        f'pasword = "{SENTINEL}"\n' + MINIMAL,
        f'[auths.home]\ncontrol_login = "ab12@a"\ncontrol_password = {SENTINEL}\n',
        f'[auths.home]\ncontrol_login = "ab12@a"\ncontrol_password = "{SENTINEL}\n',
        f'auths:\n  home:\n    control_password: "{SENTINEL}"\n',
    ],
    ids=[
        "url-userinfo",
        "url-userinfo-and-other-faults",
        "url-userinfo-unparsable",
        "auth-not-a-table",
        "auths-not-a-table",
        "unknown-top-level-key",
        "toml-unquoted",
        "toml-unterminated",
        "yaml",
    ],
)
def test_sentinel_not_in_structural_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert_not_leaked(info.value, SENTINEL)


def test_wrong_typed_password_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(auth_with("control_password = 12345678"))
    assert info.value.problems == [
        "modules.toml: auths.home.control_password: expected a string, got integer"
    ]
    assert_not_leaked(info.value, "12345678")


def assert_not_leaked(error: BaseException, value: str) -> None:
    assert isinstance(error, ConfigError)
    assert error.problems
    texts = [str(error), repr(error), *error.problems]
    # Nothing chained to the error may carry it either (tracebacks print the chain).
    cause: BaseException | None = error
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    for text in texts:
        assert value not in text
