"""Alembic's environment for every plugin's migrations (see ``xcore._migrations.environment``)."""

from alembic import context

from xcore._migrations.environment import run_migrations

run_migrations(context)
