"""Adapters that serve rsigym to other agent frameworks."""
