"""Messaging-provider webhooks, one module per provider (verification, decryption, normalisation) and one
router module each; every provider is off unless its credentials are configured."""
