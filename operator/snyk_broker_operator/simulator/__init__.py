"""A Snyk v1 API simulator: a real HTTP server for tests and demos, used only when pointed at."""
