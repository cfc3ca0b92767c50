"""Switchboard classifier."""
