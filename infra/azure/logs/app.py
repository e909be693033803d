"""Logs of the inference app: its latest revision's replica, live (it never ends), and Log
Analytics for ``--since``."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

from infra.azure.logs.history import app_kql
from infra.azure.logs.reader import Reader
from infra.azure.logs.stream import Source, Unavailable, replica_started
from infra.azure.secrets import call, read_resource, secret_values
from infra.redact import Redactor


class AppLogs(Reader):
    def __init__(self, backend, system: bool):
        super().__init__(backend, True, system)

    def _token(self) -> str:
        tok = call(f"get a log stream token for the {self.t.label}", self.client.container_apps.get_auth_token,
                   self.t.resource_group, self.t.name, t=self.t)
        token = (tok.as_dict().get("properties") or {}).get("token")
        if not token:
            raise Unavailable(401, "no token")
        return token

    def source(self) -> Optional[Source]:
        props = read_resource(self.backend, self.t).get("properties") or {}
        if self.system:
            endpoint = props.get("eventStreamEndpoint")
            return Source(endpoint, self._token(), self.t.name, "events") if endpoint else None
        revision = props.get("latestRevisionName")
        if not revision:
            return None
        result = call(f"list the replicas of revision {revision}",
                      self.client.container_apps_revision_replicas.list_replicas,
                      self.t.resource_group, self.t.name, revision, t=self.t)
        replicas = [r.as_dict() for r in (getattr(result, "value", None) or [])]
        replica = next((r for r in replicas if replica_started(r)), None)
        if replica is None:
            return None
        containers = (replica.get("properties") or {}).get("containers") or []
        container = containers[0] if containers else {}
        url = container.get("logStreamEndpoint")
        if not url:
            endpoint = props.get("eventStreamEndpoint") or ""
            if "/subscriptions/" not in endpoint:
                return None
            cname = container.get("name") or (((props.get("template") or {}).get("containers") or [{}])[0].get("name"))
            url = (f"{endpoint[: endpoint.index('/subscriptions/')]}/subscriptions/{self.t.subscription_id}/resourceGroups/"
                   f"{self.t.resource_group}/containerApps/{self.t.name}/revisions/{revision}/replicas/"
                   f"{replica['name']}/containers/{cname}/logstream")
        return Source(url, self._token(), replica["name"], replica["name"])

    def kql(self) -> str:
        return app_kql(self.t.name, system=self.system)

    def run(self, *, follow: bool, since: Optional[float]) -> Iterator[object]:
        self.redactor = Redactor(secret_values(self.backend, self.t))
        if since is not None:
            now = datetime.now(timezone.utc)
            yield from self.show_history((now - timedelta(seconds=since), now + timedelta(minutes=5)))
            if not follow:
                return
        yield from self.follow_live(
            follow=follow, waiting_detail=f"the {self.t.label} has no running replica (scaled to zero, or starting)")
