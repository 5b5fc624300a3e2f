"""The Snyk v1 Integrations API client: typed calls, an error tree, retries and a per-key limiter."""
