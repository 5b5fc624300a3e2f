"""The Kubernetes side: Secrets, workloads, custom objects and events, through the synchronous client in a thread.

Public surface: :class:`SecretStore` (:mod:`.secrets`), :class:`Workloads` (:mod:`.workloads`),
:class:`CustomObjects` (:mod:`.customobjects`), :class:`EventRecorder` (:mod:`.events`), :class:`Leases`
(:mod:`.leases`, leader election's Lease), the client from
:mod:`.connect`, and the error tree (:mod:`.errors`, drawn there). Nothing outside this package imports `kubernetes`.
"""
