"""Scaffolding: ``xcore new plugin NAME`` / ``xcore new service NAME`` write a package that installs and tests green."""

from xcore._scaffold.generator import ScaffoldError, create, names_for, render

__all__ = ["ScaffoldError", "create", "names_for", "render"]
