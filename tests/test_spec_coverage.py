"""Every Python example of the services spec has a test that runs it; this is the list.

A new example added to working-with-services.md fails this test until a test runs it.
"""

from __future__ import annotations

import importlib

import pytest

from tests.spec_support import blocks, spec_text

COVERED: dict[str, list[str]] = {
    "Using Synchronous Database": ["test_spec_databases::test_sync_database_example"],
    "Using Asynchronous Database": ["test_spec_databases::test_async_database_example"],
    "Using Redis as Database": ["test_spec_databases::test_redis_database_example"],
    "Basic Usage": ["test_spec_cache::test_cache_basic_usage_example"],
    "Pattern: Get or Set": ["test_spec_cache::test_get_or_set_pattern"],
    "Cache Tags and Invalidation": ["test_spec_cache::test_cache_invalidation_example"],
    "Adding Jobs": ["test_spec_scheduler::test_adding_jobs_example"],
    "Scheduler Patterns": ["test_spec_scheduler::test_scheduler_patterns_example"],
    "Custom Extensions": [
        "test_spec_extensions::test_extensions_example",
        "test_spec_extensions::test_extensions_example_without_email_names_the_missing_service",
    ],
    "Service Health Checks": [
        "test_spec_extensions::test_health_check_example",
        "test_spec_extensions::test_health_check_example_reports_a_failing_cache",
        "test_spec_extensions::test_health_check_example_during_a_redis_outage",
    ],
    "Best Practices": [
        "test_spec_extensions::test_best_practices_example",
        "test_spec_extensions::test_best_practices_example_without_a_service",
    ],
}
"""Spec section (the heading above the example) -> the tests running that example."""


def test_every_python_example_of_the_spec_is_covered() -> None:
    sections = [b.section for b in blocks(spec_text()) if b.language == "python"]
    assert len(sections) == len(set(sections)), "two examples share a heading; name them apart here"
    assert sorted(sections) == sorted(COVERED)


@pytest.mark.parametrize("test", [t for tests in COVERED.values() for t in tests])
def test_each_listed_test_exists(test: str) -> None:
    module, name = test.split("::")
    assert callable(getattr(importlib.import_module(f"tests.{module}"), name, None)), f"{test} does not exist"
