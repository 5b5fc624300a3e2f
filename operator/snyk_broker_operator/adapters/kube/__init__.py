"""The Kubernetes side: Secrets, workloads and events, through the synchronous client in a thread."""
