"""Chat providers' webhooks (Slack, messaging apps): one module per provider, each off unless configured."""
