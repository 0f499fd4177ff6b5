"""OpenAPI post-processing: what applies to every operation, documented once for all of them."""

from api.idempotency import HEADER

WRITE_METHODS = ("post", "put", "patch", "delete")

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
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


def add_common_parameters(result, generator, request, public):
    """Add the ``Idempotency-Key`` header to every write and the RateLimit headers to every
    response."""
    components = result.setdefault("components", {})
    components.setdefault("parameters", {})["IdempotencyKey"] = IDEMPOTENCY_PARAMETER
    headers = components.setdefault("headers", {})
    for name, description in RATE_LIMIT_HEADERS.items():
        headers[name] = {"schema": {"type": "integer"}, "description": description}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in WRITE_METHODS:
                operation.setdefault("parameters", []).append(
                    {"$ref": "#/components/parameters/IdempotencyKey"}
                )
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {}).update(
                    {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
                )
    return result
