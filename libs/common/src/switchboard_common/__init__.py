"""Switchboard shared library."""
