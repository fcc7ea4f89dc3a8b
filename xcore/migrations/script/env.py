"""Alembic's environment for every plugin's migrations (see ``xcore.migrations.environment``)."""

from alembic import context

from xcore.migrations.environment import run_migrations

run_migrations(context)
