"""Azure backend: provisioning, Azure Files sync, job executions, log streams, secrets, inference."""
