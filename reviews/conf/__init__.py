"""The service's settings: each one declared once, read through one typed, lazy namespace.

A setting is an environment variable with a type, a default and one line of help. Where the
`modeling` library has a dataclass for the concern, the default is that dataclass's own, so the
two cannot drift. `sentiment_site/settings.py` turns the environment into Django settings of the
same names with `from_environment()`; code reads them grouped:

    from reviews.conf import conf
    conf.explain.num_samples, conf.retrain.epochs, conf.gate_config(), conf.rate("flag", ...)

Like DRF's `api_settings`, the namespace is read lazily from `django.conf.settings` and reloaded
on `setting_changed`, so `override_settings` and pytest-django's `settings` fixture work.
`.env.example` and the table of docs/settings.md are held equal to `SETTINGS` by a test.

This module imports no Django model and nothing heavy: settings.py imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.signals import setting_changed

from modeling.config import ExplainConfig, GateConfig, MixConfig, RetrainSchedule, SplitSizes
from reviews.conf.declarations import BY_NAME, RATE_SCOPES, SETTINGS, Setting
from sentiment_site import env

__all__ = ["BY_NAME", "RATE_SCOPES", "SETTINGS", "Setting", "conf", "from_environment"]


def from_environment(base: Path) -> dict[str, Any]:
    """Every declared setting's value, from the environment or its default. Paths are resolved
    against `base` (the project folder); defaults under SENTIMENT_VAR_DIR follow it."""
    var_dir = BY_NAME["SENTIMENT_VAR_DIR"].parse(base, base)
    values = {}
    for setting in SETTINGS:
        if setting.name == "DATABASE_URL":
            values[setting.name] = env.env_str("DATABASE_URL", f"sqlite:///{var_dir / 'db.sqlite3'}")
        else:
            values[setting.name] = setting.parse(base, var_dir)
    rates: dict[str, dict[str, str]] = {}
    for setting in SETTINGS:
        if setting.kind == "rate":
            scope, _, who = setting.field.rpartition("_")
            for kind in ("anon", "user") if who == "any" else (who,):
                rates.setdefault(scope, {})[kind] = values[setting.name]
    values["SENTIMENT_RATES"] = rates
    return values


class Group:
    """One group's settings as read-only attributes (conf.explain.num_samples)."""

    def __init__(self, name: str, values: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, field: str):
        try:
            return self._values[field]
        except KeyError:
            raise AttributeError(f"conf.{self._name} has no setting {field!r}") from None

    def __setattr__(self, field, value):
        raise AttributeError("settings are read-only here; change the Django setting (or the environment)")

    def __repr__(self):
        return f"<conf.{self._name} {self._values}>"


class Conf:
    """The lazily read namespace: `conf.<group>.<field>`, rebuilt when a setting changes."""

    def __init__(self):
        self._groups: dict[str, Group] = {}

    def __getattr__(self, group: str) -> Group:
        if group.startswith("_"):
            raise AttributeError(group)
        cached = self._groups.get(group)
        if cached is None:
            from django.conf import settings

            fields = {s.field: _read(settings, s) for s in SETTINGS if s.group == group}
            if not fields:
                raise AttributeError(f"no settings group {group!r}")
            cached = self._groups[group] = Group(group, fields)
        return cached

    def reload(self) -> None:
        self._groups.clear()

    # --- the modeling dataclasses, built from the settings that configure them

    def _config(self, cls, group: str, **extra):
        fields = {s.field: getattr(getattr(self, group), s.field) for s in SETTINGS
                  if s.configures is cls and s.group == group}
        return cls(**fields, **extra)

    def gate_config(self) -> GateConfig:
        return self._config(GateConfig, "gate")

    def mix_config(self, *, seed: int) -> MixConfig:
        """A retrain's training mix (`seed`: the run's own)."""
        return self._config(MixConfig, "retrain", seed=seed)

    def retrain_schedule(self) -> RetrainSchedule:
        retrain = self.retrain
        return RetrainSchedule(from_base=retrain.from_ == "base", epochs=retrain.epochs, lr=retrain.lr,
                               top_k=retrain.top_k)

    def explain_config(self) -> ExplainConfig:
        return self._config(ExplainConfig, "explain")

    def split_sizes(self) -> SplitSizes:
        train, validation, test = self.data.split
        return SplitSizes(train=train, validation=validation, test=test)

    def signing_key(self, *, secret: str | None = None) -> bytes:
        """The key that seals and verifies model versions: SENTIMENT_MODEL_SIGNING_KEY, else one
        derived from SECRET_KEY (or from `secret`, a previous one: rotating SECRET_KEY needs the
        versions re-sealed, which `manage.py seal_versions --old-secret-key-env NAME` does)."""
        from django.conf import settings
        from django.utils.crypto import salted_hmac

        if self.site.model_signing_key and secret is None:
            return self.site.model_signing_key.encode()
        return salted_hmac("reviews.model-signing-key", "model store", secret=secret or settings.SECRET_KEY).digest()

    def rate(self, scope: str, *, authenticated: bool) -> str:
        """The rate text of a scope for a caller ("60/min", "none", or "" when not limited)."""
        from django.conf import settings

        return settings.SENTIMENT_RATES.get(scope, {}).get("user" if authenticated else "anon", "")


def _read(settings, setting: Setting):
    if setting.kind == "rate":
        scope, _, who = setting.field.rpartition("_")
        return settings.SENTIMENT_RATES.get(scope, {}).get("anon" if who == "any" else who, setting.default)
    return getattr(settings, setting.attr or setting.name, setting.default)


conf = Conf()


def _reload(*, setting: str, **kwargs) -> None:
    conf.reload()


# Like DRF's api_settings: a changed setting (override_settings, tests) is seen at once.
setting_changed.connect(_reload, dispatch_uid="reviews.conf.reload")
