"""Panel pages for the content export: ask for one, follow it, and download the archive through a
signed link (``backups.services.content_export``). Linked from the customer's privacy page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.models import Customer
from backups.models import ContentExport
from backups.services import content_export
from backups.views import LIVE_REFRESH_SECONDS, _customer


@login_required
def content_exports_view(request, customer_id):
    """The customer's content exports; POST asks for a new one."""
    if request.method == "POST":
        customer = _customer(request, customer_id, "privacy.export")
        try:
            content_export.request_content_export(Actor.from_request(request), customer)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("Your content is being collected. The download appears here when ready.")
            )
        return redirect("backups:content_exports", customer.pk)
    customer = _customer(request, customer_id, "privacy.view")
    exports = ContentExport.objects.visible_to(request.user).filter(customer=customer)[:5]
    return render(
        request,
        "backups/content_export.html",
        {
            "customer": customer,
            "refresh": LIVE_REFRESH_SECONDS
            if any(e.status in content_export.OPEN for e in exports)
            else None,
        },
    )


@login_required
@require_POST
def content_export_link_view(request, customer_id, export_uuid):
    """Issue a fresh signed link to the export's archive and follow it."""
    customer = _customer(request, customer_id, "privacy.export")
    export = get_object_or_404(
        ContentExport.objects.visible_to(request.user), customer=customer, uuid=export_uuid
    )
    try:
        return redirect(content_export.download_link(Actor.from_request(request), export))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("backups:content_exports", customer.pk)


@login_required
def content_export_download_view(request, customer_id, token):
    """The archive behind a signed link, streamed from the store; 404 for anyone but the
    customer's own users and for a forged or expired link."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    try:
        export = content_export.export_for_download(Actor.from_request(request), customer, token)
    except PermissionDenied:
        raise Http404 from None
    response = StreamingHttpResponse(
        content_export.archive_pieces(export), content_type="application/zstd"
    )
    response["Content-Length"] = str(export.size)
    response["Content-Disposition"] = f'attachment; filename="{content_export.filename(export)}"'
    add_never_cache_headers(response)
    return response
