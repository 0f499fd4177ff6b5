"""Error pages: problem+json under /api/, translated HTML pages elsewhere."""

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _respond(request, status: int, title: str, detail: str):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": request.path,
            },
            status=status,
            content_type="application/problem+json",
        )
    return render(
        request, "error.html", {"status": status, "title": title, "detail": detail}, status=status
    )


def bad_request(request, exception=None):
    return _respond(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request, exception=None):
    detail = str(exception) if exception and str(exception) else _("You may not see this page.")
    return _respond(request, 403, _("Forbidden"), detail)


def not_found(request, exception=None):
    return _respond(request, 404, _("Not found"), _("There is nothing here."))


def server_error(request):
    return _respond(
        request,
        500,
        _("Server error"),
        _("Something went wrong on our side. The error has been logged."),
    )
