"""Route tables of the REST API; each module exposes `routes`."""
