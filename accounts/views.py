"""Panel pages for accounts. Each page reads through visible_to and writes through a service."""

import base64

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as django_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.actor import Actor
from accounts.forms import (
    ApiKeyForm,
    AuditFilterForm,
    CustomerForm,
    LoginForm,
    MemberForm,
    NewPasswordForm,
    PasswordResetRequestForm,
    ProfileForm,
    RoleForm,
    StaffCustomerForm,
    TokenForm,
)
from accounts.models import ApiKey, AuditEvent, Customer, Membership, User
from accounts.permissions import has_perm, require

PENDING_USER = "havn_pending_user"
PENDING_NEXT = "havn_pending_next"


def _safe_next(request, default="accounts:dashboard"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _with_language(response, request, language: str):
    """Remember the user's language in the cookie Django's LocaleMiddleware reads."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        samesite="Lax",
        secure=request.is_secure(),
        max_age=settings.LANGUAGE_COOKIE_AGE,
    )
    return response


def _form_errors(form, exc: ValidationError) -> None:
    """Put a service's ValidationError onto the form, by field where the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- Login ----------------------------------------------------------------------------------------


def login_view(request):
    if request.user.is_authenticated:
        return redirect("accounts:dashboard")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.check_password_login(
                Actor.from_request(request),
                form.cleaned_data["email"],
                form.cleaned_data["password"],
            )
        except services.LoginRefused as exc:
            form.add_error(None, str(exc))
        else:
            if services.has_second_factor(user):
                request.session.cycle_key()
                request.session[PENDING_USER] = user.pk
                request.session[PENDING_NEXT] = _safe_next(request)
                return redirect("accounts:login_2fa")
            services.complete_login(request, user)
            if user.is_staff:  # staff must enrol before anything else (see the middleware)
                return _with_language(redirect("accounts:twofactor"), request, user.language)
            return _with_language(redirect(_safe_next(request)), request, user.language)
    return render(request, "accounts/login.html", {"form": form, "next": _safe_next(request, "")})


def login_2fa_view(request):
    user = User.objects.filter(pk=request.session.get(PENDING_USER), is_active=True).first()
    if user is None:
        return redirect("accounts:login")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from accounts import lockout

        if lockout.locked_until(user.email):
            request.session.flush()
            messages.error(request, _("Too many failed logins. Try again later."))
            return redirect("accounts:login")
        device = services.verify_second_factor(user, form.cleaned_data["token"])
        if device is None:
            services.record_second_factor_failure(Actor.from_request(request), user)
            form.add_error("token", _("The code is wrong, expired or already used."))
        else:
            target = request.session.get(PENDING_NEXT) or "accounts:dashboard"
            services.complete_login(request, user, second_factor=device)
            return _with_language(redirect(target), request, user.language)
    return render(request, "accounts/login_2fa.html", {"form": form})


@require_POST
def logout_view(request):
    django_logout(request)
    return redirect("accounts:login")


def password_reset_view(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.request_password_reset(
            Actor.from_request(request),
            form.cleaned_data["email"],
            domain=request.get_host(),
            use_https=request.is_secure(),
        )
        return render(request, "accounts/password_reset_sent.html")
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_confirm_view(request, uidb64, token):
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)), is_active=True)
    except (User.DoesNotExist, ValueError, TypeError, OverflowError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "accounts/password_reset_confirm.html", {"invalid": True})
    form = NewPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.set_password(
            Actor(user=user, ip=request.META.get("REMOTE_ADDR")),
            user,
            form.cleaned_data["new_password1"],
        )
        messages.success(request, _("Your password is set. Log in with it now."))
        return redirect("accounts:login")
    return render(request, "accounts/password_reset_confirm.html", {"form": form})


# --- Own account ----------------------------------------------------------------------------------


@login_required
def dashboard_view(request):
    if request.user.is_staff:
        return redirect("accounts:staff_customers")
    customers = Customer.objects.visible_to(request.user)
    memberships = Membership.objects.visible_to(request.user).filter(user=request.user)
    roles = {m.customer_id: m.get_role_display() for m in memberships}
    return render(
        request, "accounts/dashboard.html", {"customers": [(c, roles.get(c.pk)) for c in customers]}
    )


@login_required
def profile_view(request):
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in form.Meta.fields}
        try:
            services.update_profile(Actor.from_request(request), **data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            with translation.override(data["language"]):
                messages.success(request, _("Your profile is saved."))
            return _with_language(redirect("accounts:profile"), request, data["language"])
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "has_2fa": services.has_second_factor(request.user),
        },
    )


@login_required
def twofactor_view(request):
    """Set up TOTP: show a QR code for a new device and confirm it with a first code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    actor = Actor.from_request(request)
    if services.has_second_factor(request.user):
        if request.user.is_staff and not request.user.is_verified():
            return redirect("accounts:login_2fa_staff")
        return render(request, "accounts/twofactor_active.html")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    form = TokenForm(request.POST or None)
    if request.method == "POST" and device and form.is_valid():
        try:
            codes = services.confirm_totp(actor, device, form.cleaned_data["token"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            from django_otp import login as otp_login

            otp_login(request, device)
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    if device is None or request.method == "GET":
        device = services.start_totp_enrollment(actor)
    qr = segno.make(device.config_url, micro=False)
    return render(
        request,
        "accounts/twofactor_setup.html",
        {
            "form": form,
            "qr_svg": base64.b64encode(qr.svg_inline(scale=4).encode()).decode(),
            "secret": base64.b32encode(device.bin_key).decode(),
        },
    )


@login_required
def staff_verify_view(request):
    """A staff session that lost its verification (e.g. an old session) confirms a code again."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.verify_second_factor(request.user, form.cleaned_data["token"])
        if device is None:
            services.record_second_factor_failure(Actor.from_request(request), request.user)
            form.add_error("token", _("The code is wrong, expired or already used."))
        else:
            from django_otp import login as otp_login

            otp_login(request, device)
            return redirect("accounts:dashboard")
    return render(request, "accounts/login_2fa.html", {"form": form})


@login_required
@require_POST
def twofactor_disable_view(request):
    try:
        services.disable_totp(Actor.from_request(request))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Two-factor authentication is off."))
    return redirect("accounts:profile")


# --- A customer's pages ---------------------------------------------------------------------------


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


@login_required
def customer_view(request, customer_id):
    customer = _customer(request, customer_id, "customer.view")
    can_edit = has_perm(request.user, "customer.edit", customer)
    form = CustomerForm(request.POST or None, instance=customer) if can_edit else None
    if request.method == "POST":
        if not can_edit:
            require(Actor.from_request(request), "customer.edit", customer)
        if form.is_valid():
            data = {f: form.cleaned_data[f] for f in form.Meta.fields}
            try:
                services.update_customer(
                    Actor.from_request(request),
                    Customer.objects.visible_to(request.user).get(pk=customer.pk),  # unedited copy
                    **data,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The customer details are saved."))
                return redirect("accounts:customer", customer_id=customer.pk)
    return render(request, "accounts/customer.html", {"customer": customer, "form": form})


@login_required
def members_view(request, customer_id):
    customer = _customer(request, customer_id, "members.view")
    can_manage = has_perm(request.user, "members.manage", customer)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        require(Actor.from_request(request), "members.manage", customer)
        if form.is_valid():
            try:
                services.add_member(
                    Actor.from_request(request),
                    customer,
                    form.cleaned_data["email"],
                    form.cleaned_data["role"],
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The member is added and invited by e-mail."))
                return redirect("accounts:members", customer_id=customer.pk)
    members = Membership.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "accounts/members.html",
        {
            "customer": customer,
            "members": members.select_related("user"),
            "form": form,
            "can_manage": can_manage,
            "role_form": RoleForm(),
        },
    )


@login_required
@require_POST
def member_update_view(request, customer_id, membership_id):
    customer = _customer(request, customer_id, "members.manage")
    membership = get_object_or_404(
        Membership.objects.visible_to(request.user), pk=membership_id, customer=customer
    )
    actor = Actor.from_request(request)
    try:
        if request.POST.get("remove"):
            services.remove_member(actor, membership)
            messages.success(request, _("The member is removed."))
        else:
            form = RoleForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose a role."))
            services.change_member_role(actor, membership, form.cleaned_data["role"])
            messages.success(request, _("The role is changed."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:members", customer_id=customer.pk)


@login_required
def apikeys_view(request, customer_id):
    customer = _customer(request, customer_id, "apikeys.view")
    form = ApiKeyForm(request.POST or None)
    token = None
    if request.method == "POST":
        require(Actor.from_request(request), "apikeys.manage", customer)
        if form.is_valid():
            try:
                _key, token = services.create_api_key(
                    Actor.from_request(request), customer, **form.cleaned_data
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                form = ApiKeyForm()
    return _apikeys_page(request, customer, form, token)


def _apikeys_page(request, customer, form, token):
    """The keys page of a customer, or (``customer`` None) the staff member's own staff keys;
    ``token`` is a new key's, shown this once."""
    keys = ApiKey.objects.visible_to(request.user).filter(customer=customer)
    if customer is None:
        keys = keys.filter(created_by=request.user)
        can_manage = has_perm(request.user, "apikeys.staff")
    else:
        can_manage = has_perm(request.user, "apikeys.manage", customer)
    return render(
        request,
        "accounts/apikeys.html",
        {
            "customer": customer,
            "keys": keys.select_related("created_by", "successor"),
            "form": form,
            "token": token,
            "can_manage": can_manage,
            "staff_key_days": settings.HAVN_STAFF_KEY_MAX_DAYS,
        },
    )


@login_required
@require_POST
def apikey_rotate_view(request, customer_id, key_id):
    """A successor key with the same settings; its token is shown once, on this page."""
    customer = _customer(request, customer_id, "apikeys.manage")
    key = get_object_or_404(ApiKey.objects.visible_to(request.user), pk=key_id, customer=customer)
    try:
        _successor, token = services.rotate_api_key(Actor.from_request(request), key)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:apikeys", customer_id=customer.pk)
    messages.success(request, _("The new key replaces the old one, which works 24 more hours."))
    return _apikeys_page(request, customer, ApiKeyForm(), token)


@login_required
@require_POST
def apikey_revoke_view(request, customer_id, key_id):
    customer = _customer(request, customer_id, "apikeys.manage")
    key = get_object_or_404(ApiKey.objects.visible_to(request.user), pk=key_id, customer=customer)
    services.revoke_api_key(Actor.from_request(request), key)
    messages.success(request, _("The key is revoked."))
    return redirect("accounts:apikeys", customer_id=customer.pk)


@login_required
def staff_apikeys_view(request):
    """A staff member's own staff keys: they act with the member's staff role and expire."""
    actor = Actor.from_request(request)
    require(actor, "apikeys.staff")
    form = ApiKeyForm(request.POST or None)
    token = None
    if request.method == "POST" and form.is_valid():
        try:
            _key, token = services.create_api_key(actor, None, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            form = ApiKeyForm()
    return _apikeys_page(request, None, form, token)


def _staff_key(request, key_id) -> ApiKey:
    require(Actor.from_request(request), "apikeys.staff")
    return get_object_or_404(
        ApiKey.objects.visible_to(request.user),
        pk=key_id,
        customer__isnull=True,
        created_by=request.user,
    )


@login_required
@require_POST
def staff_apikey_rotate_view(request, key_id):
    key = _staff_key(request, key_id)
    try:
        _successor, token = services.rotate_api_key(Actor.from_request(request), key)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:staff_apikeys")
    messages.success(request, _("The new key replaces the old one, which works 24 more hours."))
    return _apikeys_page(request, None, ApiKeyForm(), token)


@login_required
@require_POST
def staff_apikey_revoke_view(request, key_id):
    services.revoke_api_key(Actor.from_request(request), _staff_key(request, key_id))
    messages.success(request, _("The key is revoked."))
    return redirect("accounts:staff_apikeys")


def _audit_page(request, events, form):
    if form.is_valid():
        data = form.cleaned_data
        if data.get("action"):
            events = events.filter(action__startswith=data["action"])
        if data.get("actor"):
            events = events.filter(actor_label__icontains=data["actor"])
        if data.get("customer"):
            events = events.filter(customer_id=data["customer"])
        if data.get("since"):
            events = events.filter(created_at__date__gte=data["since"])
    return Paginator(events.select_related("customer"), 50).get_page(request.GET.get("page"))


@login_required
def audit_view(request, customer_id):
    customer = _customer(request, customer_id, "audit.view")
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "accounts/audit.html",
        {
            "customer": customer,
            "form": form,
            "page": _audit_page(request, events, form),
        },
    )


# --- Staff area -----------------------------------------------------------------------------------


@login_required
def staff_customers_view(request):
    require(Actor.from_request(request), "customer.view")  # staff-wide: no customer given
    query = request.GET.get("q", "").strip()[:100]
    customers = Customer.objects.visible_to(request.user)
    if query:
        customers = customers.filter(name__icontains=query) | customers.filter(cvr=query)
    page = Paginator(customers, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/staff_customers.html", {"page": page, "q": query})


@login_required
def staff_customer_create_view(request):
    actor = Actor.from_request(request)
    require(actor, "customer.create")
    form = StaffCustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            customer = services.create_customer(actor, **data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The customer is created."))
            return redirect("accounts:customer", customer_id=customer.pk)
    return render(request, "accounts/staff_customer_create.html", {"form": form})


@login_required
def staff_audit_view(request):
    require(Actor.from_request(request), "audit.view")
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.visible_to(request.user)
    return render(
        request,
        "accounts/audit.html",
        {
            "form": form,
            "page": _audit_page(request, events, form),
            "staff": True,
        },
    )
