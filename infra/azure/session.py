"""Credentials, endpoints and SDK clients for Azure (the README lists the environment variables).

Every Azure module gets its clients from an ``AzureSession`` so that endpoints
(``FTSTUDIO_ARM_ENDPOINT``, ``FTSTUDIO_FILE_ENDPOINT``, ``FTSTUDIO_LOGS_ENDPOINT``), TLS trust
(``REQUESTS_CA_BUNDLE``) and the credential (``FTSTUDIO_ACCESS_TOKEN`` or
``DefaultAzureCredential``) are decided in one place. SDKs are imported lazily.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional

from core.errors import NotLoggedIn

DEFAULT_ARM = "https://management.azure.com"
DEFAULT_FILE = "https://{account}.file.core.windows.net"
DEFAULT_LOGS = "https://api.loganalytics.io"


class StaticTokenCredential:
    """A bearer token given in FTSTUDIO_ACCESS_TOKEN (CI pipelines, test doubles)."""

    def __init__(self, token: str):
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Optional[dict] = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, int(time.time()) + 3600)


class _LoginCheckingCredential:
    """Wraps DefaultAzureCredential so a missing login becomes one clear line (NotLoggedIn)."""

    def __init__(self, inner):
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError:
            raise NotLoggedIn() from None

    def get_token_info(self, *scopes: str, options: Optional[dict] = None):
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self._inner.get_token_info(*scopes, options=options)
        except ClientAuthenticationError:
            raise NotLoggedIn() from None


def make_credential():
    token = os.environ.get("FTSTUDIO_ACCESS_TOKEN")
    if token:
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return _LoginCheckingCredential(DefaultAzureCredential(exclude_interactive_browser_credential=True))


@dataclass
class AzureSession:
    subscription_id: Optional[str] = field(default_factory=lambda: os.environ.get("AZURE_SUBSCRIPTION_ID") or None)
    credential: Any = None
    arm_endpoint: str = field(default_factory=lambda: os.environ.get("FTSTUDIO_ARM_ENDPOINT", DEFAULT_ARM).rstrip("/"))
    file_endpoint: str = field(default_factory=lambda: os.environ.get("FTSTUDIO_FILE_ENDPOINT", DEFAULT_FILE).rstrip("/"))
    logs_endpoint: str = field(default_factory=lambda: os.environ.get("FTSTUDIO_LOGS_ENDPOINT", DEFAULT_LOGS).rstrip("/"))
    verify: Any = field(default_factory=lambda: os.environ.get("REQUESTS_CA_BUNDLE") or True)
    # 0 in tests against the fake (it sends Retry-After-Ms); None keeps the SDK default (30 s).
    polling_interval: Optional[float] = field(
        default_factory=lambda: float(os.environ["FTSTUDIO_POLLING_INTERVAL"]) if os.environ.get("FTSTUDIO_POLLING_INTERVAL") else None
    )

    def __post_init__(self):
        if self.credential is None:
            self.credential = make_credential()

    def _client_kwargs(self) -> dict:
        kw: dict = {"base_url": self.arm_endpoint, "connection_verify": self.verify}
        if self.polling_interval is not None:
            kw["polling_interval"] = self.polling_interval
        if self.arm_endpoint != DEFAULT_ARM:
            # scopes stay the public-cloud ones unless told otherwise; fakes accept any audience
            kw["credential_scopes"] = ["https://management.azure.com/.default"]
        return kw

    def require_subscription(self) -> str:
        if not self.subscription_id:
            from core.errors import MissingInputs

            raise MissingInputs([("subscription", "--subscription or AZURE_SUBSCRIPTION_ID")])
        return self.subscription_id

    # -- ARM clients (lazy) ---------------------------------------------------------------------
    @cached_property
    def appcontainers(self):
        from azure.mgmt.appcontainers import ContainerAppsAPIClient

        return ContainerAppsAPIClient(self.credential, self.require_subscription(), **self._client_kwargs())

    @cached_property
    def storage(self):
        from azure.mgmt.storage import StorageManagementClient

        return StorageManagementClient(self.credential, self.require_subscription(), **self._client_kwargs())

    @cached_property
    def loganalytics(self):
        from azure.mgmt.loganalytics import LogAnalyticsManagementClient

        return LogAnalyticsManagementClient(self.credential, self.require_subscription(), **self._client_kwargs())

    @cached_property
    def resources(self):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.require_subscription(), **self._client_kwargs())

    @cached_property
    def subscriptions(self):
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        return SubscriptionClient(self.credential, **self._client_kwargs())

    # -- data plane -------------------------------------------------------------------------------
    def file_account_url(self, account: str) -> str:
        return self.file_endpoint.format(account=account)

    def share_client(self, account: str, share: str, key: str):
        from azure.storage.fileshare import ShareClient

        return ShareClient(
            account_url=self.file_account_url(account),
            share_name=share,
            credential={"account_name": account, "account_key": key},
            connection_verify=self.verify,
        )

    @cached_property
    def logs_query(self):
        from azure.monitor.query import LogsQueryClient

        return LogsQueryClient(self.credential, endpoint=self.logs_endpoint, connection_verify=self.verify)

    # -- portal links -------------------------------------------------------------------------------
    def portal_link(self, resource_id: str, blade: str = "overview") -> str:
        return f"https://portal.azure.com/#@/resource{resource_id}/{blade}"
