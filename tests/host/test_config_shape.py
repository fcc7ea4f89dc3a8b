"""The services section's shape is written once: service_specs reads it, config_sections writes it back."""

from __future__ import annotations

from xcore import Xcore
from xcore._config.models import ServicesConfig
from xcore._services.container import config_sections, service_specs


def test_config_sections_reverse_service_specs() -> None:
    host = Xcore(
        config={
            "services": {
                "databases": {"main": {"type": "sqlite", "url": "sqlite:///:memory:"}},
                "cache": {"backend": "memory"},
                "events": {"backend": "memory"},
                "scheduler": {"enabled": False},
                "extensions": {"files": {"type": "local", "root": "/tmp/x"}},
            }
        },
        discover=False,
    )
    host.prepare()
    sections = config_sections(host.registry.checked_services)
    assert set(sections) == {"databases", "cache", "events", "tasks", "extensions"}
    assert sections["databases"]["main"]["type"] == "sqlite" and sections["cache"]["backend"] == "memory"
    assert sections["extensions"]["files"]["type"] == "local"
    problems: list[str] = []
    again = service_specs(ServicesConfig.model_validate({**sections, "scheduler": {"enabled": False}}), problems)
    assert problems == []
    assert [(s.name, s.kind, s.type_name, s.key_path) for s in again] == [
        (c.spec.name, c.spec.kind, c.spec.type_name, c.spec.key_path) for c in host.registry.checked_services
    ]
