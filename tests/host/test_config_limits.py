"""Hostile configuration files fail in one paragraph naming the file and the limit, promptly and
without exhausting memory or the stack (issue 13, item 7; limits in ``xcore._config.limits``)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xcore._config.expand import expand
from xcore._config.limits import MAX_CONFIG_BYTES, MAX_DEFAULT_NESTING, MAX_DEPTH, MAX_TEXT_CHARS, MAX_VALUES
from xcore._config.loader import load_config
from xcore._errors import ConfigError

from .support import NO_SERVICES

SERVICES = yaml.safe_dump({"services": NO_SERVICES})


def alias_bomb(levels: int, indent: str = "") -> str:
    """``levels`` anchors, each a list of nine aliases of the previous one: 9**levels values."""
    names = "abcdefghi"
    lines = [f"{indent}a: &a [{','.join(['lol'] * 9)}]"]
    lines += [f"{indent}{names[i]}: &{names[i]} [{','.join([f'*{names[i - 1]}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``xcore config check`` on ``text``, with 1 GB of memory and 60 s: what hung or exhausted the
    machine before the limits fails the test instead."""
    path = tmp_path / "integration.yaml"
    path.write_text(text)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        return subprocess.run(
            [sys.executable, "-m", "xcore", "config", "check", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=limit_memory,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("xcore config check did not finish within 60 s") from None


def one_paragraph_error(
    result: subprocess.CompletedProcess[str], tmp_path: Path, file: str = "integration.yaml"
) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert result.stderr.startswith(f"error: {tmp_path / file}: "), result.stderr
    return result.stderr


def test_a_342_byte_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = alias_bomb(9)
    assert len(bomb) <= 342
    error = one_paragraph_error(check(tmp_path, bomb), tmp_path)
    assert f"expands to more than {MAX_VALUES:,} values" in error and "alias *" in error


def test_an_alias_bomb_inside_plugin_settings_is_refused(tmp_path: Path) -> None:
    text = SERVICES + "plugins:\n  settings:\n    greedy:\n" + alias_bomb(7, indent="      ")
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert f"more than {MAX_VALUES:,} values" in error and "line " in error


def test_aliases_that_repeat_settings_still_work(tmp_path: Path) -> None:
    path = tmp_path / "integration.yaml"
    path.write_text(
        SERVICES + "plugins:\n  settings:\n    base: &base {retries: 3, region: eu}\n"
        "    a: {<<: *base, name: a}\n    b: {<<: *base, name: b}\n    c: {both: [*base, *base]}\n"
    )
    settings = load_config(path, env={}).config.plugins.settings
    assert settings["a"] == {"retries": 3, "region": "eu", "name": "a"} and settings["c"] == {
        "both": [settings["base"]] * 2
    }


def aliases_of(value: str, aliases: int) -> str:
    """A config whose plugin settings hold ``value`` once, anchored, and ``aliases`` aliases of it."""
    return (
        SERVICES + f"plugins:\n  settings:\n    p:\n      big: &a {value}\n      list: [{','.join(['*a'] * aliases)}]\n"
    )


def test_aliases_of_a_long_string_count_its_length(tmp_path: Path) -> None:
    """10,000 values, but 7 GB of text once expansion copies the string (it holds a ``$``)."""
    text = aliases_of('"$' + "x" * 700_000 + '"', 10_000)
    assert len(text) < MAX_CONFIG_BYTES
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert f"with alias *a the document expands to more than {MAX_TEXT_CHARS:,} characters of text" in error
    line = next(number for number, row in enumerate(text.splitlines(), 1) if row.startswith("      list: "))
    assert f"integration.yaml: line {line}: " in error  # the list's line: the aliases are counted as they are read


def test_aliases_of_a_variable_count_its_value(tmp_path: Path) -> None:
    """A 1.5 KB file and a 1 MB ``.env`` value: 10,000 aliases of ``${BIG}`` would be 10 GB of text."""
    (tmp_path / ".env").write_text("BIG=" + "x" * 1_000_000 + "\n")
    error = one_paragraph_error(check(tmp_path, aliases_of('"${BIG}"', 10_000)), tmp_path)
    assert ": plugins.settings.p.list.7: with this value the configuration's text, its variables expanded, " in error
    assert f"is longer than {MAX_TEXT_CHARS:,} characters, the limit for a configuration" in error


def test_a_variable_repeated_in_one_string_counts_every_time(tmp_path: Path) -> None:
    """One 900 KB string of 150,000 ``${BIG}``: 150 GB of text, refused before any of it is joined."""
    (tmp_path / ".env").write_text("BIG=" + "x" * 1_000_000 + "\n")
    text = SERVICES + 'plugins: {settings: {p: {v: "' + "${BIG}" * 150_000 + '"}}}\n'
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert ": plugins.settings.p.v: with this value the configuration's text, its variables expanded" in error


def test_the_text_limit_is_exact(tmp_path: Path) -> None:
    """Every string counts, keys too: the file's text and, once expanded, the variables' values."""
    keys = len("plugins") + len("settings") + len("p") + len("v")
    data = {"plugins": {"settings": {"p": {"v": "${BIG}${BIG}x"}}}}
    big = "y" * ((MAX_TEXT_CHARS - keys - 1) // 2)
    assert keys + 2 * len(big) + 1 == MAX_TEXT_CHARS
    assert load_config(data=data, env={"BIG": big}).config.plugins.settings["p"]["v"] == big * 2 + "x"
    with pytest.raises(
        ConfigError, match=rf"^configuration: plugins\.settings\.p\.v: .* longer than {MAX_TEXT_CHARS:,}"
    ):
        load_config(data=data, env={"BIG": big + "y"})

    path = tmp_path / "integration.yaml"  # in a file, an alias adds the length of what it repeats
    text = SERVICES + "plugins: {settings: {p: {big: &a " + "z" * 500_000 + ", list: [" + "*a," * 15 + "]}}}\n"
    path.write_text(text)
    assert len(load_config(path, env={}).config.plugins.settings["p"]["list"]) == 15  # 8,000,000 characters
    path.write_text(text.replace("[", "[*a,"))  # 8,500,000
    with pytest.raises(ConfigError, match=rf"line \d+: with alias \*a .* more than {MAX_TEXT_CHARS:,} characters"):
        load_config(path, env={})


def test_a_string_repeated_by_aliases_is_expanded_once() -> None:
    """Its expansion is shared, as the alias shared the string: one object, not one per use."""
    value = "${REGION}-${ZONE:-a}"
    expanded = expand({"one": value, "many": [value] * 3, "other": "${REGION}"}, {"REGION": "eu"})
    assert expanded == {"one": "eu-a", "many": ["eu-a"] * 3, "other": "eu"}
    assert all(item is expanded["one"] for item in expanded["many"])


def test_merged_settings_with_variables_still_work(tmp_path: Path) -> None:
    path = tmp_path / "integration.yaml"
    path.write_text(
        SERVICES + "plugins:\n  settings:\n    base: &base {url: '${API_URL}', retries: 3}\n"
        "    a: {<<: *base, name: a}\n    b: {<<: *base, url: '${B_URL:-http://b}'}\n    c: {both: [*base, *base]}\n"
    )
    settings = load_config(path, env={"API_URL": "http://api"}).config.plugins.settings
    assert settings["a"] == {"url": "http://api", "retries": 3, "name": "a"}
    assert settings["b"] == {"url": "http://b", "retries": 3}
    assert settings["c"] == {"both": [{"url": "http://api", "retries": 3}] * 2}


def test_the_security_docs_state_the_text_limit() -> None:
    """docs/security.md's limits table (the other rows are checked by tests/test_docs_secrets.py)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| text once aliases and variables are expanded |")]
    assert len(rows) == 1 and f"{MAX_TEXT_CHARS:,} characters" in rows[0], rows


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "integration.yaml"
    path.write_text(SERVICES + "plugins:\n  settings:\n    loop: &loop {again: *loop}\n")
    with pytest.raises(ConfigError, match=r"integration\.yaml: line \d+: alias \*loop is used inside its own anchor"):
        load_config(path, env={})


@pytest.mark.parametrize("style", ["block", "flow"])
def test_thousands_of_levels_of_nesting_are_refused(tmp_path: Path, style: str) -> None:
    """10,000 levels in flow style; 1,000 in block style (indentation makes deeper files too large)."""
    if style == "flow":
        text = "plugins: {settings: {p: {k: " + "[" * 10_000 + "]" * 10_000 + "}}}\n"
    else:
        text = "plugins:\n settings:\n" + "".join(f"{' ' * (i + 2)}k:\n" for i in range(1_000)) + " " * 1_002 + "1\n"
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert f"nested deeper than {MAX_DEPTH} levels" in error


def test_the_depth_limit_is_exact(tmp_path: Path) -> None:
    def nested(
        levels: int,
    ) -> str:  # the top-level mapping, plugins, settings, p: 4 levels, then lists; scalars add none
        return "plugins: {settings: {p: {k: " + "[" * (levels - 4) + "1" + "]" * (levels - 4) + "}}}\n"

    path = tmp_path / "integration.yaml"
    path.write_text(nested(MAX_DEPTH))
    load_config(path, env={})
    path.write_text(nested(MAX_DEPTH + 1))
    with pytest.raises(ConfigError, match=rf"integration\.yaml: line 1: nested deeper than {MAX_DEPTH} levels"):
        load_config(path, env={})


def test_a_deep_mapping_given_in_code_is_refused_too() -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(10_000):
        inner["k"] = inner = {}
    with pytest.raises(ConfigError, match=rf"plugins\.settings\.p\.k\.\.\.: nested deeper than {MAX_DEPTH} levels"):
        load_config(data={"plugins": {"settings": {"p": deep}}}, env={})


def test_five_thousand_nested_variable_defaults_are_refused(tmp_path: Path) -> None:
    text = SERVICES + 'app: {name: "' + "${A:-" * 5000 + "x" + "}" * 5000 + '"}\n'
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert f"app.name: variable defaults are nested deeper than {MAX_DEFAULT_NESTING} levels" in error


def test_variable_defaults_up_to_the_limit_are_expanded() -> None:
    name = "${A:-" * MAX_DEFAULT_NESTING + "shop" + "}" * MAX_DEFAULT_NESTING
    assert load_config(data={"app": {"name": name}}, env={}).config.app.name == "shop"
    with pytest.raises(ConfigError, match="nested deeper than"):
        load_config(data={"app": {"name": "${A:-" + name + "}"}}, env={})


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    text = SERVICES + "plugins: {settings: {p: {blob: '" + "a" * MAX_CONFIG_BYTES + "'}}}\n"
    error = one_paragraph_error(check(tmp_path, text), tmp_path)
    assert f"larger than {MAX_CONFIG_BYTES:,} bytes" in error


def test_a_dotenv_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BLOB=" + "a" * MAX_CONFIG_BYTES + "\n")
    error = one_paragraph_error(check(tmp_path, SERVICES), tmp_path, ".env")
    assert f"{tmp_path / '.env'}: larger than {MAX_CONFIG_BYTES:,} bytes" in error


def test_a_file_that_is_not_utf8_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "integration.yaml"
    path.write_bytes(b"app: {name: \xff\xfe}\n")
    with pytest.raises(ConfigError, match=r"integration\.yaml: not UTF-8 text"):
        load_config(path, env={})
