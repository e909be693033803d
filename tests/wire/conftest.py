"""Fixtures of the wire tests (the fake Azure itself comes from tests.fakeazure.fixtures)."""
from __future__ import annotations

import pytest

from tests.fakeazure.seed import provision


@pytest.fixture
def p(fake_azure):
    """The baseline deployment (tests.fakeazure.seed.provision): resource group, storage account and
    share, Log Analytics workspace, managed environment with a GPU profile and its storage link."""
    return provision(fake_azure)
