"""The OpenAPI document: what applies to every operation, documented once for all of them (the
post-processing hook), and the view that serves the document."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView

from api.idempotency import HEADER
from api.problems import PROBLEM_TYPE

WRITE_METHODS = ("post", "put", "patch", "delete")

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "Makes the request safe to retry: for 24 hours the same key with the same "
    "body replays the first answer (marked `Idempotent-Replayed: true`) without running the "
    "operation again; the same key with another body gets 422, and 409 while the first request "
    "is still running. Keys are per API key (per user for a session).",
}

RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests allowed in the window.",
    "RateLimit-Remaining": "Requests left in the window.",
    "RateLimit-Reset": "Seconds until the window frees a request.",
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An error (RFC 9457). `errors` maps each invalid field to its messages "
    "(`non_field_errors` for the whole request); a nested field maps to an object of its own.",
    "properties": {
        "type": {"type": "string", "description": "What kind of problem (a URI)."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "instance": {"type": "string", "nullable": True, "description": "The request path."},
        "errors": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "additionalProperties": True},
                ]
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
    "example": {
        "type": PROBLEM_TYPE + "invalid",
        "title": "Bad Request",
        "status": 400,
        "instance": "/api/v1/customers",
        "detail": "The request has invalid fields.",
        "errors": {"cvr": ["12345678 is not a valid CVR number."]},
    },
}

# status -> (component name, description, example code, example detail)
PROBLEMS = {
    "400": (
        "BadRequest",
        "Invalid fields (`errors` says which), an invalid query parameter or an invalid "
        "`Idempotency-Key`.",
        "invalid",
        "The request has invalid fields.",
    ),
    "401": (
        "Unauthenticated",
        "No credentials, or an API key that is invalid, expired or revoked.",
        "not_authenticated",
        "Authentication is required.",
    ),
    "403": (
        "Forbidden",
        "The caller's role may not do this, or the API key's limits (access, scopes, IP "
        "allow-list) refuse the request.",
        "permission_denied",
        "This API key is read-only.",
    ),
    "404": (
        "NotFound",
        "No such object visible to the caller (another customer's objects are not found), or a "
        "page past the end of a list.",
        "not_found",
        "Not found.",
    ),
    "409": (
        "IdempotencyKeyInUse",
        "A request with the same `Idempotency-Key` is still running: retry later.",
        "idempotency-key-in-use",
        "A request with this Idempotency-Key is still running. Retry it later.",
    ),
    "415": (
        "UnsupportedMediaType",
        "The body's `Content-Type` is not one the operation reads (JSON, a form or multipart).",
        "unsupported_media_type",
        'Unsupported media type "text/plain" in request.',
    ),
    "422": (
        "IdempotencyKeyReused",
        "The `Idempotency-Key` was used for a different request.",
        "idempotency-key-reused",
        "This Idempotency-Key was used for a different request.",
    ),
    "429": (
        "Throttled",
        "Over the rate limit; `Retry-After` says when to try again.",
        "throttled",
        "Request was throttled. Expected available in 12 seconds.",
    ),
}


def problem_response(status: str) -> dict:
    name, description, code, detail = PROBLEMS[status]
    response = {
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": PROBLEM_TYPE + code,
                    "title": name,
                    "status": int(status),
                    "detail": detail,
                    "instance": "/api/v1/webhotels/17",
                },
            }
        },
        "headers": rate_limit_header_refs(),
    }
    if status == "429":
        response["headers"]["Retry-After"] = {
            "schema": {"type": "integer"},
            "description": "Seconds to wait before the next request.",
        }
    return response


def rate_limit_header_refs() -> dict:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}


def error_statuses(method: str, operation: dict) -> list[str]:
    """The problems an operation can answer: every one can be refused (401, 403) or throttled
    (429); input can be invalid (400) where there is a body, a query or an Idempotency-Key, and
    the body of a type the operation does not read (415); 404 where a path, a page or a body
    names an object; 409 and 422 come from the Idempotency-Key of a write."""
    parameters = operation.get("parameters", [])
    located = {p.get("in") for p in parameters if "in" in p}
    writes = method in WRITE_METHODS
    statuses = ["401", "403", "429"]
    if writes or "query" in located or "requestBody" in operation:
        statuses.append("400")
    if writes or "path" in located or any(p.get("name") == "page" for p in parameters):
        statuses.append("404")
    if "requestBody" in operation:
        statuses.append("415")
    if writes:
        statuses += ["409", "422"]
    return sorted(statuses)


def add_common_parameters(result, generator, request, public):
    """Add the ``Idempotency-Key`` header to every write, the RateLimit headers to every
    response, and the problem+json answers (a shared ``Problem`` schema) to every operation."""
    components = result.setdefault("components", {})
    components.setdefault("parameters", {})["IdempotencyKey"] = IDEMPOTENCY_PARAMETER
    headers = components.setdefault("headers", {})
    for name, description in RATE_LIMIT_HEADERS.items():
        headers[name] = {"schema": {"type": "integer"}, "description": description}
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    responses = components.setdefault("responses", {})
    for status, (name, *_rest) in PROBLEMS.items():
        responses[name] = problem_response(status)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in WRITE_METHODS:
                operation.setdefault("parameters", []).append(
                    {"$ref": "#/components/parameters/IdempotencyKey"}
                )
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {}).update(rate_limit_header_refs())
            for status in error_statuses(method, operation):
                operation["responses"].setdefault(
                    status, {"$ref": f"#/components/responses/{PROBLEMS[status][0]}"}
                )
    return result


class SchemaView(SpectacularAPIView):
    """drf-spectacular's view, with itself in the document (open to everyone)."""

    @extend_schema(
        summary="The OpenAPI document",
        description="This document, as YAML (the default) or JSON (`?format=json`). Open to "
        "everyone, without credentials.",
        parameters=[
            OpenApiParameter("lang", str, enum=[code for code, _name in settings.LANGUAGES]),
        ],
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "The document",
                value={
                    "openapi": "3.0.3",
                    "info": {"title": "Havn API", "version": "1.0.0"},
                    "paths": {"/api/v1/me": {"get": {"operationId": "me_retrieve"}}},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
