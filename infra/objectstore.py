"""Object store: one small interface, two backends (any S3 API via boto3, a local folder).

See docs/objectstore.md. Keys are relative '/'-separated names; a put is atomic for readers.
Errors: ``ObjectNotFound`` (also a ``KeyError``), ``TransientStoreError`` (network, 5xx, throttling
after the SDK's own retries: retry later) and ``PermanentStoreError`` (everything else).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

MiB = 1024 * 1024
_TMP_SUFFIX = ".havn-tmp"  # LocalStore's temp files; no key segment may end with it
# Error codes worth retrying later, besides any 5xx and 429.
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"}


class StoreError(Exception):
    """Base class of everything this module raises (besides ValueError for bad arguments)."""


class ObjectNotFound(StoreError, KeyError):
    def __str__(self) -> str:
        return f"no such object: {self.args[0]}"


class PermanentStoreError(StoreError):
    """Retrying will not help: bad credentials, missing bucket, rejected request, local I/O."""


class TransientStoreError(StoreError):
    """Network trouble, 5xx or throttling after the SDK's retries; the caller may retry later."""


class ObjectLocked(PermanentStoreError):
    """A delete refused because the object is under object-lock retention until ``until``
    (None: a legal hold, or a date the server did not tell). The object is still there."""

    def __init__(self, key: str, until: datetime | None):
        super().__init__(key, until)
        self.key, self.until = key, until

    def __str__(self) -> str:
        when = self.until.isoformat() if self.until else "an unknown date"
        return f"{self.key}: kept until {when} by object lock"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    # When the object was written (S3 LastModified, a file's mtime); None if unknown.
    modified: datetime | None = field(default=None, compare=False)


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid relative '/'-separated name, else raise ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError("an object key must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid object key {key!r}: absolute, backslash or NUL")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or segment.endswith(_TMP_SUFFIX):
            raise ValueError(f"invalid object key {key!r}: bad segment {segment!r}")
    return key


def _check_prefix(prefix: str) -> str:
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix


def _check_retention(retain_until: datetime | None) -> None:
    if retain_until is not None and retain_until.tzinfo is None:
        raise ValueError("retain_until must be timezone-aware")


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _sha256_b64(data, digest: bytes | None) -> str:
    """The ``x-amz-checksum-sha256`` value: base64 of the body's SHA-256 (``digest`` if the
    caller has it already, e.g. a pack's name)."""
    if digest is None:
        digest = hashlib.sha256(data).digest()
    elif len(digest) != 32:
        raise ValueError("sha256 must be the 32-byte digest of the data")
    return base64.b64encode(digest).decode()


def _read_exact(fileobj: BinaryIO, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:  # a stream (socket, SSH channel) may return less than asked
        chunk = fileobj.read(size - got)
        if not chunk:
            raise PermanentStoreError(f"the file ended {size - got} bytes short")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class ObjectStore(ABC):
    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        retain_until: datetime | None = None,
        sha256: bytes | None = None,
    ) -> None:
        """Store ``data`` under ``key`` (replacing it); readers see all of it or nothing.
        ``retain_until`` object-locks it on S3 (ignored locally): pass it for data objects only,
        never for keys (``keys/``) or anything that must be erasable at once. ``sha256``: the
        data's SHA-256 digest if the caller has computed it (S3 sends it as the checksum the
        server verifies, instead of hashing the data again)."""

    @abstractmethod
    def put_file(
        self, key: str, fileobj: BinaryIO, size: int, *, retain_until: datetime | None = None
    ) -> None:
        """Like ``put`` for ``size`` bytes read from ``fileobj``, without holding them in memory."""

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset``; b"" when ``offset`` is at or past the end."""

    @abstractmethod
    def stat(self, key: str) -> int | None:
        """The object's size, or None if there is none."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key (UTF-8 byte order)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error. An object under object-lock
        retention raises ObjectLocked and stays as it was."""

    def delete_many(self, keys: Iterable[str]) -> list[ObjectLocked]:
        """Remove many objects; returns those kept by object lock (the rest are gone)."""
        kept = []
        for key in keys:
            try:
                self.delete(key)
            except ObjectLocked as exc:
                kept.append(exc)
        return kept

    @abstractmethod
    def abort_stale_uploads(self, prefix: str, older_than: timedelta) -> int:
        """Discard unfinished uploads under ``prefix`` started before ``older_than`` ago."""


class LocalStore(ObjectStore):
    """Objects as files under ``root``; written to a temp file, fsynced and renamed into place."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    @contextmanager
    def _errors(self, key: str, *, missing_ok: bool = False):
        try:
            yield
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            if not missing_ok:
                raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise PermanentStoreError(f"{key}: {exc}") from exc

    @contextmanager
    def _atomic_file(self, key: str, retain_until: datetime | None) -> Iterator[BinaryIO]:
        """A temp file beside the object, fsynced and renamed over it when the block succeeds.
        Only the file system's errors are mapped: the caller's source errors pass through."""
        _check_retention(retain_until)
        path = self._path(key)
        with _os_errors(key):
            for attempt in range(3):  # a concurrent delete may prune the fresh, empty folder
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=_TMP_SUFFIX)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                with _os_errors(key):
                    f.flush()
                    os.fsync(f.fileno())
            with _os_errors(key):
                os.replace(tmp, path)
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def put(self, key, data, *, retain_until=None, sha256=None):
        with self._atomic_file(key, retain_until) as f, _os_errors(key):
            f.write(data)

    def put_file(self, key, fileobj, size, *, retain_until=None):
        with self._atomic_file(key, retain_until) as f:
            left = size
            while left:
                chunk = _read_exact(fileobj, min(left, 4 * MiB))
                with _os_errors(key):
                    f.write(chunk)
                left -= len(chunk)

    def get(self, key):
        with self._errors(key):
            return self._path(key).read_bytes()

    def get_range(self, key, offset, length):
        if offset < 0 or length < 1:
            raise ValueError("offset must be >= 0 and length >= 1")
        with self._errors(key), self._path(key).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    def stat(self, key):
        path = self._path(key)
        with self._errors(key, missing_ok=True):
            return path.stat().st_size if path.is_file() else None
        return None

    def list(self, prefix=""):
        base, _, partial = _check_prefix(prefix).rpartition("/")
        yield from self._walk(self.root / base, f"{base}/" if base else "", partial)

    def _walk(self, folder: Path, key_prefix: str, name_prefix: str = "") -> Iterator[ObjectInfo]:
        try:
            entries = [e for e in os.scandir(folder) if e.name.startswith(name_prefix)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sort a folder as "name/" so that the keys come out in the same byte order as on S3.
        entries.sort(key=lambda e: (e.name + "/" if e.is_dir() else e.name).encode())
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), f"{key_prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(_TMP_SUFFIX):
                with suppress(FileNotFoundError):  # deleted while we walk
                    st = entry.stat()
                    modified = datetime.fromtimestamp(st.st_mtime, UTC)
                    yield ObjectInfo(key_prefix + entry.name, st.st_size, modified)

    def delete(self, key):
        path = self._path(key)
        with self._errors(key, missing_ok=True):
            path.unlink()
        for parent in path.parents:  # prune empty folders: S3 has none
            if parent == self.root:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or gone): stop
                break

    def abort_stale_uploads(self, prefix, older_than):
        cutoff = (datetime.now(UTC) - older_than).timestamp()
        base = self.root / _check_prefix(prefix).rpartition("/")[0]
        removed = 0
        for tmp in base.rglob(f"*{_TMP_SUFFIX}") if base.is_dir() else ():
            with suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed


class S3Store(ObjectStore):
    """Objects in an S3 bucket (AWS, MinIO, Ceph RGW, …), under an optional key prefix."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        path_style: bool,
        prefix: str = "",
        lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE",
        multipart_threshold: int = 64 * MiB,
        part_size: int = 16 * MiB,
        page_size: int = 1000,
        max_attempts: int = 5,
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ):
        if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ValueError(f"lock_mode must be COMPLIANCE or GOVERNANCE, not {lock_mode!r}")
        if part_size < 5 * MiB or multipart_threshold < part_size:
            raise ValueError("part_size must be >= 5 MiB and multipart_threshold >= part_size")
        self.bucket, self.lock_mode, self.page_size = bucket, lock_mode, page_size
        prefix = prefix.strip("/")
        self.prefix = _check_prefix(f"{prefix}/" if prefix else "")
        self.multipart_threshold, self.part_size = multipart_threshold, part_size
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            s3={"addressing_style": "path" if path_style else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=16,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        session = boto3.session.Session()  # sessions are not thread-safe, clients are
        client_args = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key or None,
            "aws_secret_access_key": secret_key or None,
        }
        self._client = session.client("s3", config=config, **client_args)
        self._client.meta.events.register("before-call.s3.DeleteObjects", _content_md5_not_crc)
        # Uploads (PutObject, UploadPart) always carry a SHA-256 checksum header, which is signed
        # and which the server checks against the body: the SigV4 payload hash (botocore's own
        # SHA-256 of the body, on plain-HTTP endpoints) would hash it a second time for nothing.
        # boto3 documents ``payload_signing_enabled`` for exactly this; only this client has it.
        unsigned = Config(s3={"payload_signing_enabled": False})
        self._uploads = session.client("s3", config=config.merge(unsigned), **client_args)
        self._versioned: bool | None = None

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _lock(self, retain_until: datetime | None) -> dict:
        _check_retention(retain_until)
        if retain_until is None:
            return {}
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": retain_until}

    def put(self, key, data, *, retain_until=None, sha256=None):
        args = {"Bucket": self.bucket, "Key": self._key(key), **self._lock(retain_until)}
        checksum = _sha256_b64(data, sha256)
        with _s3_errors(key):
            self._uploads.put_object(
                Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, **args
            )

    def put_file(self, key, fileobj, size, *, retain_until=None):
        if size <= self.multipart_threshold:
            return self.put(key, _read_exact(fileobj, size), retain_until=retain_until)
        args = {"Bucket": self.bucket, "Key": self._key(key)}
        with _s3_errors(key):
            upload_id = self._client.create_multipart_upload(
                **args, ChecksumAlgorithm="SHA256", **self._lock(retain_until)
            )["UploadId"]
        try:
            with _s3_errors(key):
                parts = []
                for number, offset in enumerate(range(0, size, self.part_size), start=1):
                    data = _read_exact(fileobj, min(self.part_size, size - offset))
                    checksum = _sha256_b64(data, None)
                    etag = self._uploads.upload_part(
                        **args,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )["ETag"]
                    parts.append({"PartNumber": number, "ETag": etag, "ChecksumSHA256": checksum})
                self._client.complete_multipart_upload(
                    **args, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            with suppress(Exception):  # best effort; abort_stale_uploads sweeps what is left
                self._client.abort_multipart_upload(**args, UploadId=upload_id)
            raise

    def _get(self, key: str, **extra) -> bytes:
        with _s3_errors(key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
            return response["Body"].read()

    def get(self, key):
        return self._get(key)

    def get_range(self, key, offset, length):
        if offset < 0 or length < 1:
            raise ValueError("offset must be >= 0 and length >= 1")
        try:
            return self._get(key, Range=f"bytes={offset}-{offset + length - 1}")
        except PermanentStoreError as exc:
            if _code(exc.__cause__) == "InvalidRange":  # offset at or past the end
                return b""
            raise

    def stat(self, key):
        try:
            with _s3_errors(key):
                head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return None
        return head["ContentLength"]

    def list(self, prefix=""):
        args = {"Bucket": self.bucket, "Prefix": self.prefix + _check_prefix(prefix)}
        while True:
            with _s3_errors(prefix):
                page = self._client.list_objects_v2(**args, MaxKeys=self.page_size)
            for item in page.get("Contents", ()):
                key = item["Key"].removeprefix(self.prefix)
                yield ObjectInfo(key, item["Size"], item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    def delete(self, key):
        if kept := self.delete_many([key]):
            raise kept[0]

    def delete_many(self, keys):
        """On a versioned bucket (object lock turns versioning on) every version of each key is
        deleted, so the bytes are freed at once; a version still under retention is refused by
        the server and reported, and stays the object's current version."""
        keys = [self._key(k) for k in keys]
        if not self._is_versioned():
            self._delete_objects([{"Key": k} for k in keys])
            return []
        versions: dict[str, list[dict]] = {}
        for key in keys:
            versions[key] = self._versions(key)
        doomed = [
            {"Key": k, "VersionId": v["VersionId"]}
            for k, vs in versions.items()
            for v in vs
            if not v["marker"]
        ]
        refused = self._delete_objects(doomed)
        # Delete markers go last, and only where no version was refused: a marker over a kept
        # version keeps it invisible, as it was.
        markers = [
            {"Key": k, "VersionId": v["VersionId"]}
            for k, vs in versions.items()
            if k not in refused
            for v in vs
            if v["marker"]
        ]
        self._delete_objects(markers)
        kept = []
        for key in refused:
            if versions[key][0]["marker"]:
                continue  # hidden behind a delete marker already: gone for readers
            dates = [self._retained(key, v["VersionId"]) for v in versions[key] if not v["marker"]]
            until = max((d for d in dates if d is not None), default=None)
            kept.append(ObjectLocked(key.removeprefix(self.prefix), until))
        return kept

    def _is_versioned(self) -> bool:
        """Whether the bucket keeps versions. Without the right to ask (GetBucketVersioning),
        deletes are plain ones: on a versioned bucket they only add delete markers, and the
        bucket's lifecycle rule frees the bytes (docs/objectstore.md)."""
        if self._versioned is None:
            try:
                with _s3_errors(""):
                    status = self._client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            except PermanentStoreError:
                status = None
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def _versions(self, key: str) -> list[dict]:
        """Versions and delete markers of exactly ``key``, the current one first."""
        args = {"Bucket": self.bucket, "Prefix": key}
        out = []
        while True:
            with _s3_errors(key):
                page = self._client.list_object_versions(**args)
            for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                for v in page.get(kind, ()):
                    if v["Key"] == key:
                        out.append({"VersionId": v["VersionId"], "marker": marker, **v})
            if not page.get("IsTruncated"):
                break
            args.update(
                KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"]
            )
        out.sort(key=lambda v: (not v.get("IsLatest"), v["marker"]))
        return out

    def _retained(self, key: str, version_id: str) -> datetime | None:
        with suppress(StoreError), _s3_errors(key):
            head = self._client.head_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            return head.get("ObjectLockRetainUntilDate")
        return None

    def _delete_objects(self, objects: list[dict]) -> dict[str, list[str]]:
        """DeleteObjects in batches of 1000; returns {key: [version ids]} refused by object lock
        (AccessDenied on a versioned delete); any other error raises."""
        refused: dict[str, list[str]] = {}
        for start in range(0, len(objects), 1000):
            batch = objects[start : start + 1000]
            with _s3_errors(batch[0]["Key"]):
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            asked = {o["Key"]: o.get("VersionId") for o in batch}
            for error in response.get("Errors", ()):
                key = error.get("Key", "")
                version = error.get("VersionId") or asked.get(key)
                if error.get("Code") == "AccessDenied" and version:
                    refused.setdefault(key, []).append(version)
                    continue
                raise _map_client_error(ClientError({"Error": error}, "DeleteObjects"), key)
        return refused

    def abort_stale_uploads(self, prefix, older_than):
        cutoff = datetime.now(UTC) - older_than
        args = {"Bucket": self.bucket, "Prefix": self.prefix + _check_prefix(prefix)}
        aborted = 0
        while True:
            with _s3_errors(prefix):
                page = self._client.list_multipart_uploads(**args)
            for upload in page.get("Uploads", ()):
                if upload["Initiated"] < cutoff:
                    with _s3_errors(upload["Key"]):
                        try:
                            self._client.abort_multipart_upload(
                                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                            )
                            aborted += 1
                        except ClientError as exc:
                            if _code(exc) != "NoSuchUpload":  # already gone: fine
                                raise
            if not page.get("IsTruncated"):
                return aborted
            args["KeyMarker"] = page["NextKeyMarker"]
            args["UploadIdMarker"] = page["NextUploadIdMarker"]


def _content_md5_not_crc(params, **kwargs):
    """DeleteObjects must carry a checksum: send Content-MD5, which every S3 server knows, instead
    of the CRC32 that boto3 >= 1.36 adds (older MinIO, Ceph and others reject it)."""
    params["headers"]["Content-MD5"] = _md5(params["body"])
    params["context"].pop("checksum", None)


def _code(exc: BaseException | None) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def _map_client_error(exc: ClientError, key: str) -> StoreError:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("NoSuchKey", "404", "NotFound"):
        return ObjectNotFound(key)
    if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
        return TransientStoreError(f"{key}: {exc}")
    return PermanentStoreError(f"{key}: {exc}")


@contextmanager
def _s3_errors(key: str):
    try:
        yield
    except ClientError as exc:
        raise _map_client_error(exc, key) from exc
    except (BotoConnectionError, HTTPClientError, IncompleteReadError) as exc:
        raise TransientStoreError(f"{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise PermanentStoreError(f"{key}: {exc}") from exc


@contextmanager
def _os_errors(key: str):
    try:
        yield
    except OSError as exc:
        raise PermanentStoreError(f"{key}: {exc}") from exc


def from_settings() -> ObjectStore:
    """A new store as configured by ``HAVN_OBJECTSTORE_URL`` and ``HAVN_S3_*`` (see settings)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    url = urlsplit(settings.HAVN_OBJECTSTORE_URL)
    if url.scheme == "file" and not url.netloc and url.path.startswith("/"):
        return LocalStore(Path(unquote(url.path)))
    if url.scheme == "s3" and url.netloc:
        return S3Store(
            url.netloc,
            prefix=unquote(url.path).strip("/"),
            endpoint_url=settings.HAVN_S3_ENDPOINT_URL or None,
            region=settings.HAVN_S3_REGION,
            access_key=settings.HAVN_S3_ACCESS_KEY,
            secret_key=settings.HAVN_S3_SECRET_KEY,
            path_style=settings.HAVN_S3_PATH_STYLE,
            lock_mode=settings.HAVN_S3_LOCK_MODE,
        )
    raise ImproperlyConfigured(
        "HAVN_OBJECTSTORE_URL must be file:///absolute/path or s3://bucket[/prefix], "
        f"not {settings.HAVN_OBJECTSTORE_URL!r}"
    )


@functools.cache
def default_store() -> ObjectStore:
    """The configured store, built once per process and shared by all threads."""
    return from_settings()
