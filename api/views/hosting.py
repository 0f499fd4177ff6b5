"""API views over the hosting services. Changes answer 202 with the operation to poll."""

from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.actor import Actor
from api.serializers import hosting as s
from api.views.base import CustomerOwnedViewSet, IsStaff, ReadForAllWriteForStaff
from hosting.models import (
    Certificate,
    Database,
    DnsRecord,
    DnsZone,
    Domain,
    IdentityVerification,
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
    Plan,
    Server,
    Webhotel,
)
from hosting.services import domains, mail, servers, webhotels
from hosting.services.operations import retry_operation


def accepted(request, data: dict, resource_key: str, pk: int) -> Response:
    """202 with the resource and its newest operation, and the operation's URL in Location."""
    operation = (
        Operation.objects.visible_to(request.user)
        .filter(action__startswith=f"{resource_key}.", params__id=pk)
        .order_by("-pk")
        .first()
    )
    headers = {}
    if operation is not None:
        data = {**data, "operation": {"id": operation.pk, "status": operation.status}}
        headers["Location"] = request.build_absolute_uri(
            reverse("api:operation-detail", args=[operation.pk])
        )
    return Response(data, status=status.HTTP_202_ACCEPTED, headers=headers)


class DestroyAccepted:
    """DELETE answers 202: the server-side removal runs as an operation."""

    resource_key = ""
    delete_service = None

    @extend_schema(responses={202: s.DeletionAcceptedSerializer})
    def destroy(self, request, pk=None):
        row = self.get_object()
        type(self).delete_service(self.actor, row)
        return accepted(request, {"id": row.pk}, self.resource_key, row.pk)


class WebhotelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, DestroyAccepted, CustomerOwnedViewSet
):
    model = Webhotel
    serializer_class = s.WebhotelSerializer
    filterset_fields = ["customer", "status", "server__name"]
    ordering_fields = ["primary_domain", "created_at"]
    resource_key = "webhotel"
    delete_service = webhotels.delete_webhotel

    def get_queryset(self):
        return super().get_queryset().select_related("server")

    @extend_schema(
        request=s.WebhotelCreateSerializer, responses={202: s.WebhotelAcceptedSerializer}
    )
    def create(self, request):
        data = s.WebhotelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        webhotel = webhotels.create_webhotel(self.actor, customer, **fields)
        return accepted(request, s.WebhotelSerializer(webhotel).data, "webhotel", webhotel.pk)

    @extend_schema(
        request=s.WebhotelUpdateSerializer, responses={202: s.WebhotelAcceptedSerializer}
    )
    def partial_update(self, request, pk=None):
        data = s.WebhotelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhotel = webhotels.update_webhotel(self.actor, self.get_object(), **data.validated_data)
        return accepted(request, s.WebhotelSerializer(webhotel).data, "webhotel", webhotel.pk)

    @extend_schema(request=None, responses={202: s.WebhotelAcceptedSerializer})
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        webhotel = webhotels.set_webhotel_suspended(self.actor, self.get_object(), True)
        return accepted(request, s.WebhotelSerializer(webhotel).data, "webhotel", webhotel.pk)

    @extend_schema(request=None, responses={202: s.WebhotelAcceptedSerializer})
    @action(detail=True, methods=["post"])
    def unsuspend(self, request, pk=None):
        webhotel = webhotels.set_webhotel_suspended(self.actor, self.get_object(), False)
        return accepted(request, s.WebhotelSerializer(webhotel).data, "webhotel", webhotel.pk)


class DatabaseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, DestroyAccepted, CustomerOwnedViewSet
):
    model = Database
    serializer_class = s.DatabaseSerializer
    filterset_fields = ["webhotel", "engine", "status"]
    resource_key = "database"
    delete_service = webhotels.delete_database

    @extend_schema(
        request=s.DatabaseCreateSerializer, responses={202: s.DatabaseWithPasswordSerializer}
    )
    def create(self, request):
        data = s.DatabaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        webhotel = self.visible(Webhotel, fields.pop("webhotel"))
        database, password = webhotels.create_database(self.actor, webhotel, **fields)
        body = {**s.DatabaseSerializer(database).data, "password": password}
        return accepted(request, body, "database", database.pk)

    @extend_schema(request=None, responses={202: s.DatabaseWithPasswordSerializer})
    @action(detail=True, methods=["post"], url_path="reset-password")
    def reset_password(self, request, pk=None):
        database = self.get_object()
        password = webhotels.reset_database_password(self.actor, database)
        body = {**s.DatabaseSerializer(database).data, "password": password}
        return accepted(request, body, "database", database.pk)


class MailDomainViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, DestroyAccepted, CustomerOwnedViewSet
):
    model = MailDomain
    serializer_class = s.MailDomainSerializer
    filterset_fields = ["webhotel", "status"]
    resource_key = "maildomain"
    delete_service = mail.delete_mail_domain

    @extend_schema(responses={202: s.MailDomainAcceptedSerializer})
    def create(self, request):
        data = s.MailDomainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhotel = self.visible(Webhotel, data.validated_data["webhotel_id"])
        domain = mail.create_mail_domain(self.actor, webhotel, name=data.validated_data["name"])
        return accepted(request, s.MailDomainSerializer(domain).data, "maildomain", domain.pk)


class MailboxViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, DestroyAccepted, CustomerOwnedViewSet
):
    model = Mailbox
    serializer_class = s.MailboxSerializer
    filterset_fields = ["mail_domain", "status"]
    resource_key = "mailbox"
    delete_service = mail.delete_mailbox

    def get_queryset(self):
        return super().get_queryset().select_related("mail_domain")

    @extend_schema(
        request=s.MailboxCreateSerializer, responses={202: s.MailboxWithPasswordSerializer}
    )
    def create(self, request):
        data = s.MailboxCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        mail_domain = self.visible(MailDomain, fields.pop("mail_domain"))
        mailbox, password = mail.create_mailbox(self.actor, mail_domain, **fields)
        body = {**s.MailboxSerializer(mailbox).data, "password": password}
        return accepted(request, body, "mailbox", mailbox.pk)

    @extend_schema(request=s.MailboxUpdateSerializer, responses={202: s.MailboxAcceptedSerializer})
    def partial_update(self, request, pk=None):
        data = s.MailboxUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mailbox = mail.update_mailbox(self.actor, self.get_object(), **data.validated_data)
        return accepted(request, s.MailboxSerializer(mailbox).data, "mailbox", mailbox.pk)


class AliasViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, DestroyAccepted, CustomerOwnedViewSet
):
    model = MailAlias
    serializer_class = s.AliasSerializer
    filterset_fields = ["mail_domain", "status"]
    resource_key = "alias"
    delete_service = mail.delete_alias

    def get_queryset(self):
        return super().get_queryset().select_related("mail_domain")

    @extend_schema(responses={202: s.AliasAcceptedSerializer})
    def create(self, request):
        data = s.AliasSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mail_domain = self.visible(MailDomain, data.validated_data["mail_domain_id"])
        alias = mail.save_alias(
            self.actor,
            mail_domain,
            local_part=data.validated_data["local_part"],
            destinations=data.validated_data["destinations"],
        )
        return accepted(request, s.AliasSerializer(alias).data, "alias", alias.pk)

    @extend_schema(request=s.AliasSerializer, responses={202: s.AliasAcceptedSerializer})
    def partial_update(self, request, pk=None):
        alias = self.get_object()
        data = s.AliasSerializer(alias, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        alias = mail.save_alias(
            self.actor,
            alias.mail_domain,
            local_part=alias.local_part,
            destinations=data.validated_data.get("destinations", alias.destinations),
        )
        return accepted(request, s.AliasSerializer(alias).data, "alias", alias.pk)


class OperationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    model = Operation
    serializer_class = s.OperationSerializer
    filterset_fields = ["customer", "status", "action"]

    def get_queryset(self):
        return self.model.objects.visible_to(self.request.user).order_by("-pk")

    @extend_schema(request=None, responses={202: s.OperationSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        operation = retry_operation(self.actor, self.get_object())
        return Response(s.OperationSerializer(operation).data, status=status.HTTP_202_ACCEPTED)


class PlanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The plans on sale (everyone reads them); staff administrators change them."""

    serializer_class = s.PlanSerializer
    permission_classes = [ReadForAllWriteForStaff]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        plans = Plan.objects.order_by("pk")
        return plans if self.request.user.is_staff else plans.filter(active=True)

    def perform_create(self, serializer):
        serializer.instance = servers.save_plan(
            Actor.from_request(self.request), **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = servers.save_plan(
            Actor.from_request(self.request), serializer.instance, **serializer.validated_data
        )


class ServerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Staff: hosting servers. Adding one fetches its host key for staff to confirm."""

    serializer_class = s.ServerSerializer
    permission_classes = [IsStaff]
    queryset = Server.objects.order_by("pk")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = servers.add_server(
            Actor.from_request(self.request), **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = servers.update_server(
            Actor.from_request(self.request), serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=None, responses=s.ServerSerializer)
    @action(detail=True, methods=["post"], url_path="refresh-host-key")
    def refresh_host_key(self, request, pk=None):
        """Fetch the key again (e.g. after a reinstall); staff then confirm its fingerprint."""
        server = servers.refresh_host_key(Actor.from_request(request), self.get_object())
        return Response(s.ServerSerializer(server).data)

    @extend_schema(request=s.ConfirmHostKeySerializer, responses=s.ServerSerializer)
    @action(detail=True, methods=["post"], url_path="confirm-host-key")
    def confirm_host_key(self, request, pk=None):
        data = s.ConfirmHostKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        server = servers.confirm_host_key(
            Actor.from_request(request), self.get_object(), data.validated_data["fingerprint"]
        )
        return Response(s.ServerSerializer(server).data)


class DomainViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Domains the customers own. Registry actions happen at once (no operation)."""

    model = Domain
    serializer_class = s.DomainSerializer
    filterset_fields = ["customer", "status"]

    def get_queryset(self):
        return super().get_queryset().select_related("zone")

    @extend_schema(request=s.DomainRegisterSerializer, responses={201: s.DomainSerializer})
    def create(self, request):
        data = s.DomainRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        domain = domains.register_domain(self.actor, customer, **fields)
        return Response(s.DomainSerializer(domain).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DomainTransferSerializer, responses={201: s.DomainSerializer})
    @action(detail=False, methods=["post"], url_path="transfer-in")
    def transfer_in(self, request):
        """Move a name to Havn with the authorisation code from its current registrar."""
        data = s.DomainTransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        domain = domains.transfer_in(self.actor, customer, **fields)
        return Response(s.DomainSerializer(domain).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DomainUpdateSerializer, responses=s.DomainSerializer)
    def partial_update(self, request, pk=None):
        domain = self.get_object()
        data = s.DomainUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        dnssec = fields.pop("dnssec", None)
        domain = domains.update_domain(self.actor, domain, **fields)
        if dnssec is not None:
            zone = DnsZone.objects.visible_to(request.user).filter(domain=domain).first()
            if zone is None:
                raise ValidationError(
                    {"dnssec": _("Only domains with DNS hosted here are signed.")}
                )
            domains.set_dnssec(self.actor, zone, dnssec)
        return Response(s.DomainSerializer(self.get_object()).data)

    def destroy(self, request, pk=None):
        """Release the name at the registry."""
        domains.release_domain(self.actor, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.RenewSerializer, responses=s.DomainSerializer)
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        data = s.RenewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        domain = domains.renew_domain(self.actor, self.get_object(), **data.validated_data)
        return Response(s.DomainSerializer(domain).data)

    @extend_schema(request=None, responses=s.TransferCodeSerializer)
    @action(detail=True, methods=["post"], url_path="transfer-code")
    def transfer_code(self, request, pk=None):
        return Response({"auth_code": domains.transfer_code(self.actor, self.get_object())})

    @extend_schema(
        responses=inline_serializer("Whois", {"whois": serializers.CharField()}),
        examples=[
            OpenApiExample(
                "Answer",
                value={"whois": "Domain: alfa.dk\nRegistrant: (hidden, whois privacy)\n"},
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def whois(self, request, pk=None):
        return Response({"whois": domains.whois(self.get_object())})

    @extend_schema(
        responses=inline_serializer("ZoneFile", {"zone": serializers.CharField()}),
        examples=[
            OpenApiExample(
                "Answer",
                value={"zone": "$ORIGIN alfa.dk.\n@ 3600 IN A 192.0.2.10\n"},
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def zone(self, request, pk=None):
        """The hosted zone file, signed when DNSSEC is on."""
        domain = self.get_object()  # a malformed id is a 404 here, not an error in the lookup
        zone = get_object_or_404(DnsZone.objects.visible_to(request.user), domain=domain)
        return Response({"zone": domains.zone_text(zone)})


class DnsRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    model = DnsRecord
    serializer_class = s.DnsRecordSerializer
    filterset_fields = ["zone__domain", "type"]

    def get_queryset(self):
        return super().get_queryset().select_related("zone")

    @extend_schema(request=s.DnsRecordCreateSerializer, responses={201: s.DnsRecordSerializer})
    def create(self, request):
        data = s.DnsRecordCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        zone = get_object_or_404(
            DnsZone.objects.visible_to(request.user), domain=fields.pop("domain")
        )
        record = domains.save_record(self.actor, zone, **fields)
        return Response(s.DnsRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DnsRecordSerializer, responses=s.DnsRecordSerializer)
    def partial_update(self, request, pk=None):
        record = self.get_object()
        data = s.DnsRecordSerializer(record, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {
            f: data.validated_data.get(f, getattr(record, f))
            for f in ("name", "type", "value", "ttl", "priority")
        }
        record = domains.save_record(self.actor, record.zone, record=record, **fields)
        return Response(s.DnsRecordSerializer(record).data)

    def destroy(self, request, pk=None):
        domains.delete_record(self.actor, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CertificateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    model = Certificate
    serializer_class = s.CertificateSerializer
    filterset_fields = ["webhotel"]


class IdentityVerificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet
):
    """Registrant identity checks (.dk). The CPR number is used for the check only."""

    model = IdentityVerification
    serializer_class = s.IdentityVerificationSerializer
    filterset_fields = ["customer", "status"]

    @extend_schema(
        request=s.EidVerificationSerializer, responses={201: s.IdentityVerificationSerializer}
    )
    @action(detail=False, methods=["post"])
    def eid(self, request):
        data = s.EidVerificationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        verification = domains.verify_identity_with_eid(
            self.actor,
            customer,
            cpr=data.validated_data["cpr"],
            name=data.validated_data["name"],
        )
        return Response(
            s.IdentityVerificationSerializer(verification).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request={"multipart/form-data": s.IdentityDocumentSerializer},
        responses={201: s.IdentityVerificationSerializer},
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def document(self, request):
        """Upload an ID document (multipart) for staff to review: for registrants who cannot
        use MitID."""
        data = s.IdentityDocumentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        verification = domains.submit_identity_document(
            self.actor, customer, data.validated_data["document"]
        )
        return Response(
            s.IdentityVerificationSerializer(verification).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=s.IdentityDecisionSerializer, responses=s.IdentityVerificationSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Staff administrators: approve or (with a reason) reject an uploaded document."""
        data = s.IdentityDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification = domains.decide_identity_document(
            self.actor, self.get_object(), **data.validated_data
        )
        return Response(s.IdentityVerificationSerializer(verification).data)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The uploaded file, as an attachment."
            )
        }
    )
    @action(detail=True, methods=["get"], url_path="document")
    def document_file(self, request, pk=None):
        """Staff administrators: the uploaded document (every opening is audited)."""
        verification = self.get_object()
        try:
            document = domains.open_identity_document(self.actor, verification)
        except FileNotFoundError:
            raise NotFound(_("This check has no document.")) from None
        response = FileResponse(
            document,
            as_attachment=True,
            filename=f"identity-{verification.pk}{PurePath(verification.document.name).suffix}",
            content_type="application/octet-stream",
        )
        add_never_cache_headers(response)
        return response
