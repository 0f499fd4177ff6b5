"""Errors as ``application/problem+json`` (RFC 9457), with field errors under ``errors``."""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler

PROBLEM_TYPE = "https://havn.example/problems/"


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {
            field: _field_errors(value)
            if isinstance(value, dict)
            else [str(v) for v in (value if isinstance(value, list) else [value])]
            for field, value in detail.items()
        }
    return {
        "non_field_errors": [str(v) for v in (detail if isinstance(detail, list) else [detail])]
    }


def problem_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    body = {
        "type": PROBLEM_TYPE + (code if isinstance(code, str) else "invalid"),
        "title": status_title(response.status_code),
        "status": response.status_code,
        "instance": context["request"].path if context.get("request") else None,
    }
    if isinstance(exc, exceptions.ValidationError):
        body["detail"] = "The request has invalid fields."
        body["errors"] = _field_errors(exc.detail)
    else:
        body["detail"] = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = body
    response.content_type = "application/problem+json"
    return response


def status_title(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
