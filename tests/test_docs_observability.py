"""docs/observability.md lists every series XCore exports, with its labels, and every setting it names."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import Counter

from xcore._config.models import AppConfig
from xcore._observability.metrics import Metrics

DOC = (Path(__file__).resolve().parent.parent / "docs" / "observability.md").read_text()


def table_rows() -> dict[str, str]:
    """Series name -> its row of the page's table."""
    return {m.group(1): line for line in DOC.splitlines() if (m := re.match(r"\| `(xcore_\w+)` \|", line))}


def test_every_series_is_documented_with_its_type_and_labels() -> None:
    rows = table_rows()
    series = [value for value in vars(Metrics()).values() if hasattr(value, "_labelnames")]
    assert len(series) >= 20
    for metric in series:
        name = metric._name + ("_total" if isinstance(metric, Counter) else "")
        assert name in rows, f"{name} is not in docs/observability.md"
        row = rows[name]
        assert f"| {metric._type} |" in row, f"{name}: documented type differs from {metric._type}"
        for label in metric._labelnames:
            assert f"`{label}`" in row, f"{name}: label {label!r} is not documented"
        if not metric._labelnames:
            assert "(none)" in row, f"{name} has no labels; its row should say (none)"
    documented = set(rows)
    exported = {m._name + ("_total" if isinstance(m, Counter) else "") for m in series}
    assert documented <= exported, f"documented but not exported: {documented - exported}"


def test_the_settings_table_gives_the_code_s_defaults() -> None:
    defaults = AppConfig()
    assert f"| `app.metrics` | `{str(defaults.metrics).lower()}` |" in DOC
    assert f"| `app.stall_threshold` | `{defaults.stall_threshold:g}` (seconds) |" in DOC
    assert f"| `app.tracing` | `{str(defaults.tracing).lower()}` |" in DOC
