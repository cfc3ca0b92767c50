"""Switchboard dispatcher."""
