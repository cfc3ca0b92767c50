"""Switchboard notifier."""
