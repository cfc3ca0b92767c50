"""Switchboard email intake."""
