"""Plugins the sandbox tests run in workers; this folder is all a worker may read of the tests."""
