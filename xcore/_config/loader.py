"""Loading ``integration.yaml``: read, expand ``${VAR}``, validate, and explain what is wrong.

Every error is a :class:`~xcore.errors.ConfigError` whose message is one paragraph: the file, the
key path, what is wrong, and (for a misspelt key) the closest valid key.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError

from xcore._config import legacy
from xcore._config.bounded_yaml import read_bounded_yaml
from xcore._config.expand import expand, key_path
from xcore._config.limits import MAX_CONFIG_BYTES
from xcore._config.models import XcoreConfig
from xcore._errors import ConfigError
from xcore._redaction import redact

DEFAULT_CONFIG_NAME = "integration.yaml"


@dataclass
class LoadedConfig:
    """The validated config plus what produced it (for ``xcore config check`` and redaction)."""

    config: XcoreConfig
    raw: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)
    """The variables ``${VAR}`` were expanded from: the ``.env`` file under the environment."""


def find_config(path: str | os.PathLike[str] | None) -> Path | None:
    """The config file to read: ``path`` if given (it must exist), else ``./integration.yaml`` if present."""
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise ConfigError(f"config file {candidate} does not exist")
        return candidate
    candidate = Path(DEFAULT_CONFIG_NAME)
    return candidate if candidate.is_file() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Load and validate the configuration.

    ``data`` (a dict shaped like the YAML) takes the place of a file, for tests and embedding.
    Variables come from ``env`` (default ``os.environ``) over a ``.env`` file beside the config.
    """
    source: Path | None = None
    if data is None:
        source = find_config(path)
        data = _read_yaml(source) if source is not None else {}
    environment = dict(_dotenv(source))
    environment.update(os.environ if env is None else env)
    where = str(source) if source is not None else "configuration"
    try:
        expanded = expand(dict(data), environment)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        expanded = legacy.upgrade(expanded)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return LoadedConfig(config=validate(XcoreConfig, expanded, where), raw=expanded, path=source, env=environment)


def _read_yaml(path: Path) -> dict[str, Any]:
    loaded = read_bounded_yaml(path)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (app, plugins, services)")
    return loaded


def _dotenv(source: Path | None) -> dict[str, str]:
    folder = source.parent if source is not None else Path.cwd()
    env_file = folder / ".env"
    if not env_file.is_file():
        return {}
    if env_file.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{env_file}: larger than {MAX_CONFIG_BYTES:,} bytes, the limit for a configuration file")
    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def validate(
    model: type[BaseModel], data: Any, where: str, prefix: Iterable[str | int] = (), context: Any = None
) -> Any:
    """``model.model_validate(data, context=context)``, with errors rewritten as one paragraph naming key paths."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{where}: " + "; ".join(describe(exc, model, tuple(prefix)))) from None


def describe(exc: ValidationError, model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> list[str]:
    """Readable lines for a pydantic error, with a did-you-mean for unknown keys."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = key_path(prefix + loc)
        if err["type"] == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else (f"; valid keys: {', '.join(known)}" if known else "")
            lines.append(f"{path}: unknown key{hint}")
        elif err["type"] == "missing":
            why = (err.get("ctx") or {}).get("hint")  # a settings model may say why (see service_urls)
            lines.append(f"{path}: required key is missing" + (f" ({why})" if why else ""))
        else:
            got = redact(err.get("input"), loc[-1] if loc else None)
            lines.append(f"{path}: {err['msg']} (got {got!r})")
    return lines


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the sub-model found by walking ``loc`` through ``model``'s fields."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = fields[part].annotation
        # unwrap Optional[Model]
        for arg in getattr(current, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []
