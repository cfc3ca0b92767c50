"""Messaging-provider webhooks (one module per provider): verification, decryption, normalisation, routes."""
