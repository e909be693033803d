"""Azure Files (ShareClient & co.), Log Analytics queries (LogsQueryClient) and log streams
(requests/httpx) against the fake."""
from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
from datetime import timedelta

import httpx
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.storage.fileshare import ContentSettings, ShareClient

from tests.fakeazure.seed import app_body, clients, job_body
from tests.waiting import wait_for

pytestmark = pytest.mark.wire


def share(fake, p, key=None) -> ShareClient:
    return ShareClient(account_url=fake.file_account_url(p.account), share_name=p.share,
                       credential={"account_name": p.account, "account_key": key or p.account_key},
                       connection_verify=fake.ca_path)


# -- Azure Files -----------------------------------------------------------------------------------
def test_files_directories_upload_download_list(fake_azure, p):
    sc = share(fake_azure, p)
    sc.get_directory_client("runs").create_directory()
    sc.get_directory_client("runs/r 1").create_directory()  # percent-encoded in the URL
    with pytest.raises(ResourceExistsError):
        sc.get_directory_client("runs").create_directory()
    with pytest.raises(ResourceNotFoundError) as e:
        sc.get_directory_client("missing/child").create_directory()
    assert e.value.error_code == "ParentNotFound"
    data = bytes(range(256)) * 40000  # ~10 MB: several 4 MiB ranges
    md5 = hashlib.md5(data).digest()
    fc = sc.get_file_client("runs/r 1/model.bin")
    fc.upload_file(data, content_settings=ContentSettings(content_md5=bytearray(md5)), validate_content=True)
    props = fc.get_file_properties()
    assert props.size == len(data) and bytes(props.content_settings.content_md5) == md5
    assert fc.download_file().readall() == data
    assert fc.download_file(offset=10, length=5).readall() == data[10:15]
    plain = sc.get_file_client("runs/plain.txt")
    plain.upload_file(b"hi")
    assert plain.get_file_properties().content_settings.content_md5 is None  # only when set at upload
    assert fake_azure.state.files(p.account, p.share)["runs/r 1/model.bin"] == data
    assert fake_azure.requests.count("PUT", r"model\.bin$", surface="files") >= 4  # create + 3 ranges
    with pytest.raises(ResourceExistsError) as e:
        sc.get_directory_client("runs").delete_directory()
    assert e.value.error_code == "DirectoryNotEmpty"
    plain.delete_file()
    with pytest.raises(ResourceNotFoundError) as e:
        plain.get_file_properties()
    assert e.value.error_code == "ResourceNotFound"
    sc.get_file_client("empty.txt").upload_file(b"")
    assert sc.get_file_client("empty.txt").download_file().readall() == b""


def test_files_listing_pages(fake_azure, p):
    sc = share(fake_azure, p)
    sc.get_directory_client("d").create_directory()
    for i in range(7):
        sc.get_file_client(f"d/f{i}.txt").upload_file(b"x" * i)
    sc.get_directory_client("d/sub").create_directory()
    fake_azure.requests.clear()
    items = list(sc.list_directories_and_files("d", results_per_page=3))
    assert sorted(i["name"] for i in items) == [f"f{i}.txt" for i in range(7)] + ["sub"]
    assert {i["name"]: i["size"] for i in items if not i["is_directory"]}["f5.txt"] == 5
    assert fake_azure.requests.count("GET", r"/d$", surface="files") == 3


def test_files_rename_file(fake_azure, p):
    """ShareFileClient.rename_file: PUT <new>?comp=rename with x-ms-file-rename-source (the old URL)."""
    sc = share(fake_azure, p)
    for d in ("runs", "runs/a b", "done"):
        sc.get_directory_client(d).create_directory()
    old = sc.get_file_client("runs/a b/model.bin")
    old.upload_file(b"weights", content_settings=ContentSettings(content_type="application/x-weights"))
    file_id = old.get_file_properties().file_id
    fake_azure.requests.clear()
    moved = old.rename_file("done/model final.bin")
    puts = fake_azure.requests.filter("PUT", surface="files")
    assert [(r.path.split("/", 3)[-1], r.query.get("comp")) for r in puts] == [("done/model final.bin", "rename")]
    assert "/".join(moved.file_path) == "done/model final.bin" and moved.download_file().readall() == b"weights"
    props = moved.get_file_properties()
    assert props.file_id == file_id and props.content_settings.content_type == "application/x-weights"
    assert fake_azure.state.files(p.account, p.share) == {"done/model final.bin": b"weights"}
    with pytest.raises(ResourceNotFoundError) as e:
        old.get_file_properties()
    assert e.value.error_code == "ResourceNotFound"
    # an existing destination is kept unless overwrite=True; sources and parents must exist
    sc.get_file_client("done/other.bin").upload_file(b"other")
    with pytest.raises(ResourceExistsError) as e:
        moved.rename_file("done/other.bin")
    assert e.value.error_code == "ResourceAlreadyExists"
    assert sc.get_file_client("done/other.bin").download_file().readall() == b"other"
    moved.rename_file("done/other.bin", overwrite=True)
    assert fake_azure.state.files(p.account, p.share) == {"done/other.bin": b"weights"}
    with pytest.raises(ResourceNotFoundError) as e:
        sc.get_file_client("done/missing.bin").rename_file("done/x.bin")
    assert e.value.error_code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as e:
        sc.get_file_client("done/other.bin").rename_file("nodir/x.bin")
    assert e.value.error_code == "ParentNotFound"
    with pytest.raises(HttpResponseError) as e:
        sc.get_file_client("done/other.bin").rename_file("runs")  # a directory is in the way
    assert e.value.status_code == 409 and e.value.error_code == "ResourceTypeMismatch"
    assert fake_azure.state.files(p.account, p.share) == {"done/other.bin": b"weights"}  # failures changed nothing


def test_files_create_file_with_initial_data(fake_azure, p):
    """create_file(size, data=...) sends the first bytes in the Put File (Create File) body."""
    sc = share(fake_azure, p)
    fc = sc.get_file_client("hello.txt")
    fake_azure.requests.clear()
    fc.create_file(8, data=b"hello")
    puts = fake_azure.requests.filter("PUT", surface="files")
    assert [(r.path.rsplit("/", 1)[-1], r.query.get("comp")) for r in puts] == [("hello.txt", None)]  # no Put Range
    assert fc.download_file().readall() == b"hello\0\0\0"  # the rest of the size is zeros
    fc.create_file(5, data=b"howdy", validate_content="md5")  # with Content-MD5, checked by the service
    assert fc.download_file().readall() == b"howdy"
    with pytest.raises(HttpResponseError) as e:
        fc.create_file(2, data=b"too long")
    assert e.value.status_code == 400 and e.value.error_code == "OutOfRangeInput"
    assert fc.download_file().readall() == b"howdy"  # the rejected create replaced nothing
    fc.create_file(3)  # no body: an empty 3-byte file, as before
    assert fc.download_file().readall() == b"\0\0\0"


def test_files_create_file_body_is_checked_against_its_content_md5(fake_azure, p):
    """validate_content=True sends Content-MD5 (no CRC64 structured message); x-ms-content-md5 is
    stored as the file's property; a body changed after the MD5 was computed is refused, unwritten."""
    sc = share(fake_azure, p)
    fc = sc.get_file_client("one.bin")
    data = bytes(range(256)) * 12
    md5 = hashlib.md5(data).digest()
    sent = []
    fc.create_file(len(data), data=data, validate_content=True, content_settings=ContentSettings(content_md5=bytearray(md5)),
                   raw_request_hook=lambda r: sent.append(dict(r.http_request.headers)))
    assert sent[0]["Content-MD5"] == base64.b64encode(md5).decode() and "x-ms-structured-body" not in sent[0]
    assert fc.download_file().readall() == data
    assert bytes(fc.get_file_properties().content_settings.content_md5) == md5
    assert fake_azure.requests.count("PUT", r"/one\.bin$", surface="files") == 1

    def flip_a_byte(request):  # corruption on the way, after the SDK computed Content-MD5
        body = request.http_request.data
        request.http_request.data = bytes([body[0] ^ 0xFF]) + body[1:]

    with pytest.raises(HttpResponseError) as e:
        sc.get_file_client("two.bin").create_file(len(data), data=data, validate_content=True,
                                                  content_settings=ContentSettings(content_md5=bytearray(md5)),
                                                  raw_request_hook=flip_a_byte)
    assert e.value.status_code == 400 and e.value.error_code == "Md5Mismatch"
    with pytest.raises(HttpResponseError) as e:
        fc.create_file(len(data), data=data, validate_content=True, raw_request_hook=flip_a_byte)
    assert e.value.error_code == "Md5Mismatch"
    assert fake_azure.state.files(p.account, p.share) == {"one.bin": data}  # nothing created or replaced


def test_latency_setting_delays_requests_and_connections(fake_azure, p):
    from tests.fakeazure.server import FakeAzure

    sc = share(fake_azure, p)
    sc.get_directory_client("warm").create_directory()  # the connection is open
    fake_azure.latency_ms = 50
    start = time.perf_counter()
    sc.get_directory_client("a").create_directory()
    sc.get_directory_client("b").create_directory()
    assert time.perf_counter() - start >= 0.09  # one round trip each
    start = time.perf_counter()
    share(fake_azure, p).get_directory_client("c").create_directory()  # a new connection: + TCP and TLS
    assert time.perf_counter() - start >= 0.14
    fake_azure.reset()
    assert fake_azure.latency_ms == 0
    other = FakeAzure(latency_ms=15)  # not started: the value reset() restores
    other.latency_ms = 0
    other.reset()
    assert other.latency_ms == 15


def test_files_auth_and_missing_share(fake_azure, p):
    with pytest.raises(ClientAuthenticationError) as e:
        list(share(fake_azure, p, key=base64.b64encode(b"wrong" * 10).decode()).list_directories_and_files())
    assert e.value.error_code == "AuthenticationFailed"
    other = ShareClient(account_url=fake_azure.file_account_url(p.account), share_name="nosuch",
                        credential={"account_name": p.account, "account_key": p.account_key}, connection_verify=fake_azure.ca_path)
    with pytest.raises(ResourceNotFoundError) as e:
        other.get_directory_client("x").create_directory()
    assert e.value.error_code == "ShareNotFound"


# -- jobs: log streams + Log Analytics -----------------------------------------------------------------------
def run_job(fake, p, lines, interval=0.01):
    ca = clients(fake)[3]
    ca.jobs.begin_create_or_update(p.resource_group, "ftjob", job_body(p)).result()
    fake.jobs.script(job="ftjob", lines=lines, line_interval=interval)
    name = ca.jobs.begin_start(p.resource_group, "ftjob").result().name
    base = f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}/providers/Microsoft.App/jobs/ftjob"
    token = ca.send_request(HttpRequest("POST", f"{base}/getAuthToken", params={"api-version": "2023-11-02-preview"})).json()["properties"]["token"]
    reps = wait_for(lambda: ca.send_request(HttpRequest("GET", f"{base}/executions/{name}/replicas",
                                                        params={"api-version": "2023-11-02-preview"})).json()["value"])
    return ca, name, token, reps[0]["properties"]["containers"][0]["logStreamEndpoint"]


def log_records(resp_lines):
    recs = [json.loads(l) for l in resp_lines if l]
    return [r for r in recs if not r["Log"].startswith(("Connecting to the container", "Successfully Connected"))]


def test_job_log_stream_follow_tail_and_history(fake_azure, p):
    lines = [f"step {i}" for i in range(10)]
    ca, name, token, url = run_job(fake_azure, p, lines, interval=0.02)
    hdr = {"Authorization": f"Bearer {token}"}
    with requests.get(url, params={"follow": "true", "output": "json", "tailLines": "300"}, headers=hdr,
                      verify=fake_azure.ca_path, stream=True, timeout=10) as r:
        assert r.status_code == 200
        streamed = log_records(r.iter_lines())
    assert [x["Log"] for x in streamed] == lines  # follow ends when the execution ends
    again = requests.get(url, params={"follow": "false", "output": "json", "tailLines": "3"}, headers=hdr, verify=fake_azure.ca_path)
    assert log_records(again.text.splitlines()) == streamed[-3:]  # same original timestamps
    text = requests.get(url, params={"follow": "false", "output": "text", "tailLines": "2"}, headers=hdr, verify=fake_azure.ca_path)
    assert text.text.splitlines()[-2:] == lines[-2:]
    # the ARM token is not accepted by the stream host; tailLines is bounded
    assert requests.get(url, headers={"Authorization": f"Bearer {fake_azure.token}"}, verify=fake_azure.ca_path).status_code == 401
    assert requests.get(url, params={"tailLines": "301"}, headers=hdr, verify=fake_azure.ca_path).status_code == 400
    # history in Log Analytics equals what was streamed
    from azure.monitor.query import LogsQueryClient

    lq = LogsQueryClient(fake_azure.credential(), endpoint=fake_azure.logs_endpoint, connection_verify=fake_azure.ca_path)
    res = lq.query_workspace(p.customer_id, f"ContainerAppConsoleLogs_CL | where ContainerJobName_s == 'ftjob' "
                                            f"and ContainerGroupName_s startswith '{name}' | project TimeGenerated, Log_s "
                                            f"| order by TimeGenerated asc", timespan=timedelta(hours=1))
    assert [r[1] for r in res.tables[0].rows] == lines
    stamps = [r[0].strftime("%Y-%m-%dT%H:%M:%S.%f") for r in res.tables[0].rows]
    assert stamps == [x["TimeStamp"][:26] for x in streamed]
    res = lq.query_workspace(p.customer_id, "ContainerAppConsoleLogs_CL | where Log_s contains 'STEP 1' | where TimeGenerated > ago(1h) "
                                            "| order by TimeGenerated desc | take 1 | project Log_s", timespan=None)
    assert [r[0] for r in res.tables[0].rows] == ["step 1"]
    sysres = lq.query_workspace(p.customer_id, f"ContainerAppSystemLogs_CL | where ExecutionName_s == '{name}' | project Reason_s",
                                timespan=timedelta(hours=1))
    assert "Completed" in [r[0] for r in sysres.tables[0].rows]


def test_logs_query_unknown_table_and_fresh_workspace(fake_azure, p):
    from azure.monitor.query import LogsQueryClient

    lq = LogsQueryClient(fake_azure.credential(), endpoint=fake_azure.logs_endpoint, connection_verify=fake_azure.ca_path)
    with pytest.raises(HttpResponseError) as e:  # nothing ingested yet: the table does not exist
        lq.query_workspace(p.customer_id, "ContainerAppConsoleLogs_CL | take 1", timespan=timedelta(hours=1))
    assert e.value.status_code == 400
    fake_azure.state.strict_log_tables = False
    res = lq.query_workspace(p.customer_id, "ContainerAppConsoleLogs_CL | take 1", timespan=timedelta(hours=1))
    assert res.tables[0].rows == []


def test_stream_reconnect_after_cut(fake_azure, p):
    lines = [f"l{i}" for i in range(6)]
    fake_azure.faults.cut_stream(after_lines=3)
    ca, name, token, url = run_job(fake_azure, p, lines, interval=0.0)
    wait_for(lambda: ca.job_execution(p.resource_group, "ftjob", name).properties.status == "Succeeded")
    hdr = {"Authorization": f"Bearer {token}"}
    got = []
    with pytest.raises(httpx.HTTPError):
        with httpx.Client(verify=ssl.create_default_context(cafile=fake_azure.ca_path)) as c, c.stream("GET", url, params={"follow": "true", "tailLines": "300"}, headers=hdr) as r:
            for line in r.iter_lines():
                got.append(line)
    first = log_records(got)
    assert [x["Log"] for x in first] == lines[:3]
    with httpx.Client(verify=ssl.create_default_context(cafile=fake_azure.ca_path)) as c:
        second = log_records(c.get(url, params={"follow": "true", "tailLines": "300"}, headers=hdr).text.splitlines())
    seen = {(x["TimeStamp"], x["Log"]) for x in first}
    merged = first + [x for x in second if (x["TimeStamp"], x["Log"]) not in seen]
    assert [x["Log"] for x in merged] == lines


def test_app_replica_stream_and_system_events(fake_azure, p):
    ca = clients(fake_azure)[3]
    fake_azure.apps.script(app="ftapi", ready=False, ready_after=0.0, lines=["booting", "crash!"], events=["ContainerCrashing"])
    app = ca.container_apps.begin_create_or_update(p.resource_group, "ftapi", app_body(p)).result()
    rev = app.properties.latest_revision_name
    token = ca.container_apps.get_auth_token(p.resource_group, "ftapi").properties.token
    rep = ca.container_apps_revision_replicas.list_replicas(p.resource_group, "ftapi", rev).value[0]
    url = rep.properties.containers[0].log_stream_endpoint
    hdr = {"Authorization": f"Bearer {token}"}
    wait_for(lambda: len(log_records(requests.get(url, params={"follow": "false"}, headers=hdr, verify=fake_azure.ca_path).text.splitlines())) == 2)
    ev_url = app.properties.event_stream_endpoint
    assert ev_url.endswith("/containerApps/ftapi/eventstream")
    evs = [json.loads(l) for l in requests.get(ev_url, params={"follow": "false"}, headers=hdr, verify=fake_azure.ca_path).text.splitlines()]
    assert "ContainerCrashing" in [e["Reason"] for e in evs] and all(e["ContainerAppName"] == "ftapi" for e in evs)
    # another resource's token does not open this stream
    env_tok = ca.managed_environments.get_auth_token(p.resource_group, p.environment).properties.token
    assert requests.get(url, headers={"Authorization": f"Bearer {env_tok + 'x'}"}, verify=fake_azure.ca_path).status_code == 401
