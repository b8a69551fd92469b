"""Environments and their task suites."""
