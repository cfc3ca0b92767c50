"""Switchboard intake-chat."""
