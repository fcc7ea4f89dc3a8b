"""This backend's CI: XCore's storage conformance suite, run against ``type: memory``."""

from typing import Any

import pytest

from xcore.testing.conformance import StorageConformance


class TestMemoryStorage(StorageConformance):
    @pytest.fixture
    def service_config(self) -> dict[str, Any]:
        return {"type": "memory"}
