"""Placeholder until the fake Azure lands (tests/fakeazure)."""
