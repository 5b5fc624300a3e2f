"""`python -m snyk_broker_operator`: the same entry point as the console script."""

from snyk_broker_operator import cli

if __name__ == "__main__":
    raise SystemExit(cli.main())
