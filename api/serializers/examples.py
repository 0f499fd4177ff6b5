"""Examples for the OpenAPI document: a request body and an answer per serializer, checked
against their schemas by tests/test_api_schema.py."""

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer


def examples(*, request: dict | None = None, response: dict | None = None):
    """Decorate a serializer with an example request body and/or answer (the answer also for
    202, the status of the changes that run as operations; lists wrap it in a page)."""
    found = []
    if request is not None:
        found.append(OpenApiExample("Request", value=request, request_only=True))
    if response is not None:
        found.append(
            OpenApiExample(
                "Answer", value=response, response_only=True, status_codes=[200, 201, 202]
            )
        )
    return extend_schema_serializer(examples=found)
