"""A wire-faithful fake Azure for the tests (ARM, Azure Files, Log Analytics query, log streams).

    with FakeAzure() as fake:
        client = ContainerAppsAPIClient(fake.credential(), fake.subscription_id, **fake.client_kwargs())

Pytest fixtures (``fake_azure``, ``azure_env``) live in ``tests.fakeazure.fixtures``.
"""
from .server import FakeAzure, FakeCredential, RequestLog, RequestRecord

__all__ = ["FakeAzure", "FakeCredential", "RequestLog", "RequestRecord"]
