"""Web chat: sessions, the wire protocol, normalisation into intake events."""
