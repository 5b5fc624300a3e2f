"""`kubectl snyk-broker`: the kubectl plugin (the executable `kubectl-snyk_broker`) over BrokerTokens and Snyk.

Modules: ``cli`` (the commands, their --help and exit codes), ``reads`` (what they read, through the Kubernetes and
Snyk adapters, with the user's kubeconfig), ``views`` (pure: what each command shows, from what was read),
``render`` (pure: tables, JSON, YAML), ``generate`` (pure: a BrokerToken manifest built from the models).
A token or an API key never reaches any output: only fingerprints do.
"""
