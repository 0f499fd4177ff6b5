"""The object store: one suite run against both backends (a local folder, moto's S3 over HTTP)."""

import base64
import hashlib
import io
import os
import socket
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from django.core.exceptions import ImproperlyConfigured

from infra import objectstore
from infra.objectstore import (
    LocalStore,
    ObjectInfo,
    ObjectNotFound,
    PermanentStoreError,
    S3Store,
    TransientStoreError,
)

MiB = 1024 * 1024


def make_s3(server, bucket, **options) -> S3Store:
    return S3Store(
        bucket,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        path_style=True,
        **options,
    )


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    # A small page and small parts, so pagination and multipart are cheap to exercise.
    return make_s3(
        server, bucket, prefix="havn", page_size=2, multipart_threshold=8 * MiB, part_size=5 * MiB
    )


@contextmanager
def wire(store):
    """Record (operation, headers) of every HTTP request an S3Store sends (observed, not mocked)."""
    sent = []
    if not isinstance(store, S3Store):
        yield sent
        return

    def record(request, event_name, **kwargs):
        sent.append((event_name.rsplit(".", 1)[-1], dict(request.headers)))

    clients = (store._client, store._uploads)
    for client in clients:
        client.meta.events.register("before-send.s3.*", record)
    try:
        yield sent
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.s3.*", record)


@pytest.mark.parametrize("data", [b"", b"x", os.urandom(100_000)], ids=["empty", "1B", "100kB"])
def test_round_trip(store, data):
    store.put("packs/00/obj", data)
    assert store.get("packs/00/obj") == data
    assert store.stat("packs/00/obj") == len(data)


def test_overwrite_replaces_the_object(store):
    store.put("snapshots/a", b"first version")
    store.put("snapshots/a", b"second")
    assert store.get("snapshots/a") == b"second"
    assert list(store.list()) == [ObjectInfo("snapshots/a", 6)]


def test_missing_object(store):
    assert store.stat("nope") is None
    with pytest.raises(ObjectNotFound) as caught:
        store.get("nope")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(ObjectNotFound):
        store.get_range("nope/deeper", 0, 10)
    store.put("file", b"x")
    assert store.stat("file/below") is None


def test_get_range(store):
    data = bytes(range(256)) * 4
    store.put("r", data)
    assert store.get_range("r", 0, 10) == data[:10]
    assert store.get_range("r", 1000, 100) == data[1000:]  # clipped at the end
    assert store.get_range("r", 1024, 5) == b""
    assert store.get_range("r", 5000, 1) == b""
    with pytest.raises(ValueError):
        store.get_range("r", -1, 5)
    with pytest.raises(ValueError):
        store.get_range("r", 0, 0)


def test_list_is_sorted_filtered_and_paginated(store):
    keys = ["a/d/e", "b/x", "a0", "a-c", "ab", "a/b"]
    for key in keys:
        store.put(key, key.encode())
    with wire(store) as s:
        listed = list(store.list())
    # UTF-8 byte order, as S3 returns it: "a-c" < "a/b" < "a0".
    assert [o.key for o in listed] == ["a-c", "a/b", "a/d/e", "a0", "ab", "b/x"]
    assert listed[2] == ObjectInfo("a/d/e", 5)
    if isinstance(store, S3Store):
        assert [op for op, _ in s].count("ListObjectsV2") == 3  # page_size=2
    assert [o.key for o in store.list("a/")] == ["a/b", "a/d/e"]
    assert [o.key for o in store.list("a")] == ["a-c", "a/b", "a/d/e", "a0", "ab"]
    assert [o.key for o in store.list("a/d")] == ["a/d/e"]
    assert list(store.list("zzz/")) == []


def test_delete_is_idempotent(store):
    store.put("locks/a/b", b"x")
    store.delete("locks/a/b")
    store.delete("locks/a/b")
    store.delete("never/was")
    assert store.stat("locks/a/b") is None
    assert list(store.list()) == []
    if isinstance(store, LocalStore):
        assert list(store.root.iterdir()) == []  # empty folders pruned


def test_delete_many_in_batches(store):
    names = [f"packs/{i:04}" for i in range(2500)]
    for name in (names[0], names[1500], names[2499], "index/keep"):
        store.put(name, b"data")
    with wire(store) as s:
        store.delete_many(names)  # mostly missing keys: fine
    assert [o.key for o in store.list()] == ["index/keep"]
    if isinstance(store, S3Store):
        assert [op for op, _ in s].count("DeleteObjects") == 3


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a//b", "a/", "../a", "a/../b", "a/./b", ".", "a\\b", "a\x00b", "x.havn-tmp"],
)
def test_invalid_keys_are_rejected(store, key):
    for call in (store.get, store.stat, store.delete, lambda k: store.put(k, b"x")):
        with pytest.raises(ValueError):
            call(key)
    if key not in ("", "a/"):  # valid prefixes
        with pytest.raises(ValueError):
            list(store.list(key))


def test_unicode_and_spaces_in_keys(store):
    key = "kunder/Ærø Øst/fil med mellemrum æøå €.txt"
    store.put(key, b"hej")
    assert store.get(key) == b"hej"
    assert [o.key for o in store.list("kunder/Ærø")] == [key]


def test_put_file_multipart_round_trip(store):
    data = os.urandom(12 * MiB + 123)
    with wire(store) as s:
        store.put_file("archives/big", io.BytesIO(data), len(data))
    assert store.stat("archives/big") == len(data)
    assert store.get("archives/big") == data
    assert store.get_range("archives/big", 5 * MiB - 2, 4) == data[5 * MiB - 2 : 5 * MiB + 2]
    if isinstance(store, S3Store):
        assert [op for op, _ in s].count("UploadPart") == 3  # 5 + 5 + 2 MiB


class Breaks(io.RawIOBase):
    """A file that fails after ``good`` bytes, like a broken SSH stream."""

    def __init__(self, good: int):
        self.left = good

    def read(self, n=-1):
        if self.left <= 0:
            raise OSError("connection lost")
        n = min(n, self.left)
        self.left -= n
        return b"x" * n


@pytest.mark.parametrize("size", [1 * MiB, 12 * MiB], ids=["single", "multipart"])
def test_failed_put_file_leaves_nothing(store, size):
    with pytest.raises(OSError, match="connection lost"):
        store.put_file("archives/broken", Breaks(size - 10), size)
    with pytest.raises(PermanentStoreError, match="bytes short"):
        store.put_file("archives/short", io.BytesIO(b"x" * (size - 10)), size)
    assert list(store.list()) == []
    assert store.abort_stale_uploads("", timedelta(0)) == 0  # nothing unfinished left behind


def start_interrupted_upload(store, key: str) -> None:
    """Leave an unfinished upload behind, as a killed worker would."""
    if isinstance(store, S3Store):
        client, args = store._client, {"Bucket": store.bucket, "Key": store.prefix + key}
        upload = client.create_multipart_upload(**args)
        client.upload_part(**args, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * MiB)
    else:  # moto dates every upload 2010-11-10; age the local temp file to match
        folder = store.root / key.rpartition("/")[0]
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=objectstore._TMP_SUFFIX)
        os.close(fd)
        old = time.time() - 7200
        os.utime(tmp, (old, old))


def test_abort_stale_uploads(store):
    start_interrupted_upload(store, "packs/ab/unfinished")
    store.put("packs/ab/done", b"ok")
    assert [o.key for o in store.list()] == ["packs/ab/done"]
    assert store.abort_stale_uploads("index/", timedelta(hours=1)) == 0
    assert store.abort_stale_uploads("packs/", timedelta(days=365 * 100)) == 0  # not stale yet
    assert store.abort_stale_uploads("packs/", timedelta(hours=1)) == 1
    assert store.abort_stale_uploads("packs/", timedelta(hours=1)) == 0
    assert store.get("packs/ab/done") == b"ok"


def test_concurrent_puts_from_threads(store):
    items = {f"packs/{i % 5}/{uuid.uuid4().hex}": os.urandom(1000 + i) for i in range(48)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: store.put(*kv), items.items()))
    assert {o.key: o.size for o in store.list()} == {k: len(v) for k, v in items.items()}
    assert all(store.get(k) == v for k, v in items.items())


# --- S3 only --------------------------------------------------------------------------------------


def test_object_lock_retention(s3_server):
    bucket = f"havn-lock-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": s3_server.region},
        ObjectLockEnabledForBucket=True,
    )
    store = make_s3(s3_server, bucket)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    store.put("packs/locked", b"data", retain_until=until)
    store.put_file("packs/file", io.BytesIO(b"y" * 1000), 1000, retain_until=until)
    store.put("keys/never-locked", b"wrapped key")
    # moto lacks GetObjectRetention (HEAD shows the lock) and ignores the lock headers of
    # CreateMultipartUpload, so a locked multipart upload can only be checked on a real server.
    for key in ("packs/locked", "packs/file"):
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == until
    assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key="keys/never-locked")
    with pytest.raises(ValueError, match="timezone"):
        store.put("packs/x", b"", retain_until=datetime(2030, 1, 1))  # noqa: DTZ001


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_integrity_is_one_sha256_header_not_crc(s3_server, s3_bucket):
    """Uploads carry x-amz-checksum-sha256 in a plain (signed) header -- no CRC, no aws-chunked
    trailer -- and their payload is not hashed a second time for the signature; every other
    request keeps the signed payload hash; DeleteObjects sends Content-MD5."""
    store = make_s3(s3_server, s3_bucket, multipart_threshold=5 * MiB, part_size=5 * MiB)
    data, big = os.urandom(1000), b"z" * 6 * MiB
    with wire(store) as sent:
        store.put("a", data)
        store.put("c", data, sha256=hashlib.sha256(data).digest())  # the caller's digest
        store.put_file("b", io.BytesIO(big), 6 * MiB)
        store.delete_many(["a", "b", "c"])
    sent = [(op, {k.lower(): _text(v) for k, v in h.items()}) for op, h in sent]
    uploads = [(op, h) for op, h in sent if op in ("PutObject", "UploadPart")]
    assert [op for op, _ in uploads] == ["PutObject", "PutObject", "UploadPart", "UploadPart"]
    for op, headers in sent:
        assert not {n for n in headers if "crc" in n or n == "content-encoding"}, op
        if op in ("PutObject", "UploadPart"):
            assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD", op
            assert "x-amz-checksum-sha256" in headers["authorization"], op  # a signed header
        else:
            assert headers["x-amz-content-sha256"] != "UNSIGNED-PAYLOAD", op
    assert uploads[0][1]["x-amz-checksum-sha256"] == sha256_b64(data)
    assert uploads[1][1]["x-amz-checksum-sha256"] == sha256_b64(data)
    assert uploads[2][1]["x-amz-checksum-sha256"] == sha256_b64(big[: 5 * MiB])
    assert "content-md5" in dict(sent)["DeleteObjects"]
    assert list(store.list()) == []
    with pytest.raises(ValueError, match="32-byte"):
        store.put("d", data, sha256=b"short")


def test_a_wrong_checksum_is_sent_as_given(s3_server, s3_bucket):
    """The checksum the caller passes is what the server checks the body against: it is not
    recomputed from the body (AWS, MinIO and Ceph answer BadDigest; moto checks nothing, so
    here the test can only show the header that a real server refuses)."""
    store = make_s3(s3_server, s3_bucket)
    wrong = hashlib.sha256(b"other bytes").digest()
    with wire(store) as sent:
        try:
            store.put("a", b"payload", sha256=wrong)
        except PermanentStoreError as exc:  # a server that verifies (not moto)
            assert "BadDigest" in str(exc) or "XAmzContentChecksumMismatch" in str(exc)
    assert _text(sent[0][1]["x-amz-checksum-sha256"]) == base64.b64encode(wrong).decode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "NoSuchKey", ObjectNotFound),
        (404, "404", ObjectNotFound),
        (404, "NoSuchBucket", PermanentStoreError),
        (400, "BadDigest", PermanentStoreError),
        (403, "AccessDenied", PermanentStoreError),
        (503, "SlowDown", TransientStoreError),
        (500, "InternalError", TransientStoreError),
        (400, "RequestTimeout", TransientStoreError),
    ],
)
def test_error_mapping(status, code, expected):
    error = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    assert type(objectstore._map_client_error(error, "k")) is expected


def test_endpoint_down_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    store = S3Store(
        "havn",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="eu-north-1",
        access_key="testing",
        secret_key="testing",
        path_style=True,
        max_attempts=1,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    for call in (lambda: store.stat("a"), lambda: store.put("a", b"x"), lambda: list(store.list())):
        with pytest.raises(TransientStoreError):
            call()


# --- Configuration --------------------------------------------------------------------------------


def test_from_settings(settings, tmp_path):
    settings.HAVN_OBJECTSTORE_URL = f"file://{tmp_path}/objects"
    store = objectstore.from_settings()
    assert isinstance(store, LocalStore) and store.root == tmp_path / "objects"
    settings.HAVN_OBJECTSTORE_URL = "s3://backups/havn/prod/"
    settings.HAVN_S3_ENDPOINT_URL = "https://s3.example.net"
    store = objectstore.from_settings()
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.lock_mode) == ("backups", "havn/prod/", "COMPLIANCE")
    settings.HAVN_OBJECTSTORE_URL = "file://relative/path"
    with pytest.raises(ImproperlyConfigured):
        objectstore.from_settings()
