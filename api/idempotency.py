"""``Idempotency-Key`` on every write under /api/v1/ (POST, PUT, PATCH, DELETE).

The first request with a key runs and its answer is kept (``IdempotencyRecord``) for 24 hours.
Within that time the same key from the same caller

- with the same method, path and body gets the kept answer again, marked
  ``Idempotent-Replayed: true``, and the operation does not run again;
- with another method, path or body gets 422;
- while the first request is still running gets 409.

A middleware does this for every view at once, present and future; it identifies the caller
with the API's own authentication classes. Answers that say the request never ran (401, 403,
429) and server errors (5xx) are not kept, so the client can retry with the same key. Kept
bodies are encrypted (they may hold a secret shown once, such as a new API key's token). The
request itself is kept only as a keyed hash (`fingerprint`): a plain hash of an eID check's body
would give its CPR number away to anyone who hashes every possible one (a birth date and four
digits).
"""

import contextlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.models import ApiKey
from api import throttling
from api.models import IdempotencyRecord
from api.problems import PROBLEM_TYPE, status_title
from api.scopes import API_PREFIX
from infra import secretbox

HEADER = "Idempotency-Key"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEEP_FOR = timedelta(hours=24)
# A first request that has said nothing for this long is taken to have died with its process.
IN_FLIGHT_TIMEOUT = timedelta(minutes=5)
NOT_KEPT = frozenset({401, 403, 429})
REPLAYED_HEADERS = ("Location", "Content-Type", "Content-Language")
MAX_KEY_LENGTH = 255
FINGERPRINT_SALT = "havn.api.idempotency.fingerprint"


def problem(request, status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(
        {
            "type": PROBLEM_TYPE + code,
            "title": status_title(status),
            "status": status,
            "instance": request.path,
            "detail": detail,
        },
        status=status,
        content_type="application/problem+json",
    )


def fingerprint(request) -> str:
    """HMAC-SHA256, under a key derived from SECRET_KEY, of what makes two requests the same:
    method, path, query and body (JSON bodies compared by value, so key order and spacing do not
    matter)."""
    body = request.body
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    parts = (request.method.encode(), request.get_full_path().encode(), body)
    message = b"".join(len(part).to_bytes(8, "big") + part for part in parts)
    return salted_hmac(FINGERPRINT_SALT, message, algorithm="sha256").hexdigest()


def caller(request) -> tuple[str, Request] | None:
    """("key:<id>" or "user:<id>", the DRF request) as the API would authenticate it, or None."""
    drf_request = Request(
        request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        user, auth = drf_request.user, drf_request.auth
    except APIException:
        return None  # the view refuses it the same way
    if isinstance(auth, ApiKey):
        return f"key:{auth.pk}", drf_request
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}", drf_request
    return None


def purge_expired(now=None) -> int:
    """Delete the records older than 24 hours (the periodic task); returns how many."""
    now = now or timezone.now()
    deleted, _detail = IdempotencyRecord.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    return deleted


def _claim(owner: str, key: str, request, digest: str):
    """(True, record) when this request runs first, (False, record) when one exists already."""
    now = timezone.now()
    fields = {"method": request.method, "path": request.path[:2000], "fingerprint": digest}
    for _try in range(2):
        try:
            with transaction.atomic():
                return True, IdempotencyRecord.objects.create(owner=owner, key=key, **fields)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue  # purged in between: try again
        expired = existing.created_at < now - KEEP_FOR
        abandoned = existing.status is None and existing.created_at < now - IN_FLIGHT_TIMEOUT
        if not (expired or abandoned):
            return False, existing
        # Take the key over only if nobody else did in between.
        IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
    return False, IdempotencyRecord.objects.get(owner=owner, key=key)


def _keep(record: IdempotencyRecord, response) -> None:
    if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
        record.delete()
        return
    try:
        body = response.content.decode()
    except UnicodeDecodeError:  # not JSON (the API's writes answer JSON): not replayable
        record.delete()
        return
    record.status = response.status_code
    record.headers = {h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)}
    record.body_sealed = secretbox.seal(body)
    record.save(update_fields=["status", "headers", "body_sealed"])


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(secretbox.unseal(record.body_sealed).encode(), status=record.status)
    for header, value in record.headers.items():
        response[header] = value
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method not in METHODS or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            return problem(
                request,
                400,
                "invalid-idempotency-key",
                _("The Idempotency-Key must be 1 to 255 printable ASCII characters."),
            )
        who = caller(request)
        if who is None:
            return self.get_response(request)  # the view answers 401 or 403
        owner, drf_request = who
        digest = fingerprint(request)
        first, record = _claim(owner, key, request, digest)
        if first:
            try:
                response = self.get_response(request)
            except BaseException:
                record.delete()
                raise
            _keep(record, response)
            return response
        return self._answer_again(request, drf_request, record, digest)

    def _answer_again(self, request, drf_request, record, digest) -> HttpResponse:
        # A repeated request counts against the caller's rate limit like any other.
        if not throttling.count(drf_request):
            response = problem(
                request, 429, "throttled", _("Request was throttled. Try again later.")
            )
            response["Retry-After"] = str(getattr(request, throttling.STATE_ATTRIBUTE)[2] or 1)
            return response
        if record.fingerprint != digest:
            return problem(
                request,
                422,
                "idempotency-key-reused",
                _("This Idempotency-Key was used for a different request."),
            )
        if record.status is None:
            return problem(
                request,
                409,
                "idempotency-key-in-use",
                _("A request with this Idempotency-Key is still running. Retry it later."),
            )
        return _replay(record)
