"""Staff panel pages: servers and plans."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.models import (
    Operation,
    Plan,
    ResourceStatus,
    Server,
    Webhotel,
)
from hosting.services import servers

# What an operation does, in words; the code is shown for actions not listed here.
from hosting.views.common import (
    _describe,
    _form_errors,
)

# --- Staff: servers -------------------------------------------------------------------------------


def _webhotel_counts(request, by: str) -> dict[int, int]:
    """How many webhotels (not being deleted) each server or plan holds."""
    rows = (
        Webhotel.objects.visible_to(request.user)
        .exclude(status=ResourceStatus.DELETING)
        .order_by()
        .values(by)
        .annotate(n=Count("pk"))
        .values_list(by, "n")
    )
    return dict(rows)


def _counted(rows, counts: dict[int, int]) -> list:
    rows = list(rows)
    for row in rows:
        row.webhotel_count = counts.get(row.pk, 0)
    return rows


@login_required
def servers_view(request):
    actor = Actor.from_request(request)
    require(actor, "servers.view")  # staff-wide: no customer given
    form = forms.ServerAddForm(request.POST or None)
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                server = servers.add_server(actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                if server.host_key:
                    messages.success(
                        request,
                        _("The server is added. Confirm its host key fingerprint before use."),
                    )
                else:
                    messages.success(request, _("The server is added."))
                return redirect("hosting:server", server_id=server.pk)
    return render(
        request,
        "hosting/servers.html",
        {
            "servers": _counted(Server.objects.all(), _webhotel_counts(request, "server")),
            "form": form,
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


# The file ``ssh-keygen -lf`` reads on the server, by the fetched key's type.
HOST_KEY_FILES = {
    "ssh-ed25519": "/etc/ssh/ssh_host_ed25519_key.pub",
    "ecdsa-sha2-nistp256": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp384": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp521": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ssh-rsa": "/etc/ssh/ssh_host_rsa_key.pub",
    "rsa-sha2-256": "/etc/ssh/ssh_host_rsa_key.pub",
    "rsa-sha2-512": "/etc/ssh/ssh_host_rsa_key.pub",
}


def _server_page(request, server, *, form=None, host_key_form=None):
    key_type = server.host_key.split(" ", 1)[0] if server.host_key else ""
    webhotels_page = Paginator(
        Webhotel.objects.visible_to(request.user)
        .filter(server=server)
        .select_related("customer", "plan"),
        100,
    ).get_page(request.GET.get("page"))
    operations = (
        Operation.objects.visible_to(request.user)
        .filter(server=server)
        .select_related("customer")
        .order_by("-created_at", "-pk")[:25]
    )
    can_manage = has_perm(request.user, "servers.manage")
    return render(
        request,
        "hosting/server.html",
        {
            "server": server,
            "fingerprint": servers.fingerprint(server),
            "key_type": key_type,
            "key_file": HOST_KEY_FILES.get(key_type, "/etc/ssh/ssh_host_*_key.pub"),
            "webhotels": webhotels_page,
            "webhotel_count": webhotels_page.paginator.count,
            "operations": _describe(list(operations)),
            "can_manage": can_manage,
            "form": form or (forms.ServerForm(instance=server) if can_manage else None),
            "host_key_form": host_key_form or forms.HostKeyForm(),
        },
    )


@login_required
def server_view(request, server_id):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    server = get_object_or_404(Server, pk=server_id)
    form = None
    if request.method == "POST":
        require(actor, "servers.manage")
        # The form gets its own copy: a failed save must not leave the page's server changed.
        form = forms.ServerForm(request.POST, instance=Server.objects.get(pk=server.pk))
        if form.is_valid():
            try:
                servers.update_server(actor, server, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The server is saved."))
                return redirect("hosting:server", server_id=server.pk)
            server = Server.objects.get(pk=server.pk)
    return _server_page(request, server, form=form)


@login_required
@require_POST
def server_confirm_host_key_view(request, server_id):
    actor = Actor.from_request(request)
    require(actor, "servers.manage")
    server = get_object_or_404(Server, pk=server_id)
    form = forms.HostKeyForm(request.POST)
    if form.is_valid():
        try:
            servers.confirm_host_key(actor, server, form.cleaned_data["fingerprint"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The host key is confirmed and pinned."))
            return redirect("hosting:server", server_id=server.pk)
    return _server_page(request, server, host_key_form=form)


# --- Staff: plans ---------------------------------------------------------------------------------


@login_required
def plans_view(request):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    form = forms.PlanForm(request.POST or None)
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                plan = servers.save_plan(actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The plan %(name)s is created.") % {"name": plan})
                return redirect("hosting:plans")
    return render(
        request,
        "hosting/plans.html",
        {
            "plans": _counted(Plan.objects.all(), _webhotel_counts(request, "plan")),
            "form": form,
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


@login_required
def plan_view(request, plan_id):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    plan = get_object_or_404(Plan, pk=plan_id)
    can_manage = has_perm(request.user, "servers.manage")
    form = forms.PlanForm(request.POST or None, instance=Plan.objects.get(pk=plan.pk))
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                servers.save_plan(actor, plan, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The plan %(name)s is saved.") % {"name": plan})
                return redirect("hosting:plans")
            plan = Plan.objects.get(pk=plan.pk)
    return render(
        request,
        "hosting/plan.html",
        {
            "plan": plan,
            "form": form if can_manage else None,
            "webhotel_count": _webhotel_counts(request, "plan").get(plan.pk, 0),
            "can_manage": can_manage,
        },
    )
