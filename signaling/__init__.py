"""The signaling tier: REST API, authentication, sessions and the web client."""
