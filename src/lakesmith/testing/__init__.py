"""Helpers for tests that run against real local services (used by tests/ and benchmarks/)."""

from lakesmith.testing.stack import free_ports, local_stack_settings, make_state_dir, worker_env

__all__ = ["free_ports", "local_stack_settings", "make_state_dir", "worker_env"]
