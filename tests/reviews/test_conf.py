"""reviews/conf/: one declaration per setting, held equal to .env.example, the README and
modeling's dataclasses, read lazily and reloaded when a setting changes."""

import dataclasses
import os
import re
import shlex
import warnings
from pathlib import Path

import pytest

from modeling.config import ExplainConfig, GateConfig, MixConfig, RetrainSchedule, ServingConfig
from reviews import conf as conf_module
from reviews.conf import SETTINGS, conf, from_environment

ROOT = Path(__file__).resolve().parents[2]
NAMES = {s.name for s in SETTINGS}


@pytest.fixture
def clean_env(monkeypatch):
    """No service variable set: every setting at its default."""
    for name in list(os.environ):
        if name in NAMES or any(name in s.deprecated for s in SETTINGS):
            monkeypatch.delenv(name)
    return monkeypatch


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = " ".join(shlex.split(value)) if value else ""
    return values


def readme_table() -> dict[str, str]:
    """The settings table of docs/settings.md (the README links to it)."""
    text = (ROOT / "docs" / "settings.md").read_text()
    table = text.split("<!-- settings:start -->", 1)[1].split("<!-- settings:end -->", 1)[0]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|\s*(`([^`]*)`|\(empty\))\s*\|", line)
        if match:
            rows[match.group(1)] = match.group(3) or ""
    return rows


def parsed(values: dict[str, str], monkeypatch) -> dict:
    """The settings from_environment() gives with exactly `values` in the environment."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return from_environment(ROOT)


def test_env_example_lists_every_setting_with_its_default(clean_env):
    """.env.example names exactly the declared settings, and its values parse to the defaults."""
    example = env_example()
    assert set(example) == NAMES
    assert parsed(example, clean_env) == from_environment(ROOT)


def test_readme_table_lists_every_setting_with_its_default(clean_env):
    """The settings table (docs/settings.md) names exactly the declared settings, with their defaults."""
    table = readme_table()
    assert set(table) == NAMES
    assert parsed(table, clean_env) == from_environment(ROOT)


def test_default_text_is_what_the_docs_write():
    """Each setting's default, written as the docs write it, parses back to the default."""
    assert {s.name: s.default_text for s in SETTINGS}["SENTIMENT_MODEL_STORE"] == "var/models"
    assert {s.name: s.default_text for s in SETTINGS}["SENTIMENT_RETRAIN_AUTO_PROMOTE"] == "true"


@pytest.mark.parametrize("cls, group, skip", [
    (GateConfig, "gate", ()),
    (MixConfig, "retrain", ("seed",)),
    (ExplainConfig, "explain", ()),
    (ServingConfig, "serving", ("max_length", "device")),
])
def test_every_dataclass_default_is_a_setting_default(cls, group, skip):
    """Every field of a modeling dataclass the settings configure has a setting, and the
    setting's default is the dataclass's own."""
    configured = {s.field: s for s in SETTINGS if s.configures is cls}
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        assert field.name in configured, f"{cls.__name__}.{field.name} has no setting"
        assert configured[field.name].default == field.default and configured[field.name].group == group


def test_unset_settings_build_modelings_default_configs(clean_env, settings):
    """With nothing set, the namespace builds exactly modeling's default gate, mix, schedule and
    explanation configurations."""
    for name, value in from_environment(ROOT).items():
        if name.startswith("SENTIMENT_"):
            setattr(settings, name, value)
    assert conf.gate_config() == GateConfig()
    assert conf.mix_config(seed=0) == MixConfig()
    assert conf.retrain_schedule() == RetrainSchedule()
    assert conf.explain_config() == ExplainConfig()


def test_a_changed_setting_is_read_at_once(settings):
    """The namespace reloads when a Django setting changes (override_settings, tests)."""
    settings.SENTIMENT_EXPLAIN_NUM_SAMPLES = 77
    assert conf.explain.num_samples == 77
    settings.SENTIMENT_RATES = {"flag": {"anon": "3/min", "user": "9/min"}}
    assert conf.rate("flag", authenticated=False) == "3/min" and conf.rates.flag_user == "9/min"


def test_the_namespace_is_read_only():
    """Code cannot change a setting through the namespace by mistake."""
    with pytest.raises(AttributeError, match="read-only"):
        conf.explain.num_samples = 3
    with pytest.raises(AttributeError, match="no setting"):
        conf.explain.no_such_setting


def test_a_renamed_setting_keeps_its_old_name_with_a_warning(clean_env):
    """SENTIMENT_HOLDOUT_SHARE (the old name) still sets the held-out share, with a warning."""
    clean_env.setenv("SENTIMENT_HOLDOUT_SHARE", "0.4")
    with pytest.warns(FutureWarning, match="SENTIMENT_GATE_HOLDOUT_SHARE"):
        values = from_environment(ROOT)
    assert values["SENTIMENT_GATE_HOLDOUT_SHARE"] == 0.4
    clean_env.setenv("SENTIMENT_GATE_HOLDOUT_SHARE", "0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_environment(ROOT)["SENTIMENT_GATE_HOLDOUT_SHARE"] == 0.1  # the new name wins


def test_code_reads_no_undeclared_service_variable():
    """Every SENTIMENT_* name the code mentions is declared (or is one of the few internal ones)."""
    internal = {"SENTIMENT_RATES", "SENTIMENT_TEST_"} | {old for s in conf_module.SETTINGS for old in s.deprecated}
    found = set()
    for folder in ("reviews", "sentiment_site", "modeling"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"\bSENTIMENT_[A-Z0-9_]+", path.read_text()))
    unknown = {n for n in found - NAMES - internal if not n.endswith("_")}
    assert not unknown, unknown
    assert conf_module.BY_NAME.keys() == NAMES


@pytest.mark.parametrize("raw, value", [("", "auto"), ("auto", "auto"), ("1", "true"), ("yes", "true"),
                                        ("true", "true"), ("0", "false"), ("off", "false")])
def test_secure_cookies_takes_auto_or_any_boolean(clean_env, raw, value):
    """DJANGO_SECURE_COOKIES keeps accepting the boolean spellings it always did, beside auto."""
    clean_env.setenv("DJANGO_SECURE_COOKIES", raw)
    assert from_environment(ROOT)["DJANGO_SECURE_COOKIES"] == value
