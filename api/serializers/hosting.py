from rest_framework import serializers

from api.serializers.examples import examples
from hosting.models import (
    Certificate,
    Database,
    DnsRecord,
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
from infra.ssh import fingerprint


@examples(
    request={
        "name": "Basis",
        "disk_quota_mb": 10000,
        "max_databases": 2,
        "max_mailboxes": 5,
        "price_dkk": "49.00",
        "active": True,
    },
    response={
        "id": 2,
        "name": "Basis",
        "disk_quota_mb": 10000,
        "max_databases": 2,
        "max_mailboxes": 5,
        "price_dkk": "49.00",
        "active": True,
    },
)
class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "disk_quota_mb",
            "max_databases",
            "max_mailboxes",
            "price_dkk",
            "active",
        ]


@examples(
    request={
        "name": "web3",
        "address": "web3.havn.example",
        "ssh_port": 22,
        "ssh_user": "havn",
        "role": "combined",
        "datacenter": "Ballerup",
        "capacity": 400,
        "transport": "ssh",
        "profile": "debian",
    },
    response={
        "id": 3,
        "name": "web3",
        "address": "web3.havn.example",
        "ssh_port": 22,
        "ssh_user": "havn",
        "role": "combined",
        "datacenter": "Ballerup",
        "capacity": 400,
        "status": "active",
        "transport": "ssh",
        "profile": "debian",
        "root": "",
        "host_key_fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
        "host_key_confirmed_at": "2026-01-10T08:00:00Z",
    },
)
class ServerSerializer(serializers.ModelSerializer):
    host_key_fingerprint = serializers.SerializerMethodField()

    class Meta:
        model = Server
        fields = [
            "id",
            "name",
            "address",
            "ssh_port",
            "ssh_user",
            "role",
            "datacenter",
            "capacity",
            "status",
            "transport",
            "profile",
            "root",
            "host_key_fingerprint",
            "host_key_confirmed_at",
        ]
        read_only_fields = ["host_key_fingerprint", "host_key_confirmed_at"]

    def get_host_key_fingerprint(self, server) -> str | None:
        return fingerprint(server.host_key) if server.host_key else None


@examples(request={"fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"})
class ConfirmHostKeySerializer(serializers.Serializer):
    fingerprint = serializers.CharField(max_length=100)


@examples(
    response={
        "id": 981,
        "customer": 12,
        "action": "webhotel.ensure",
        "target": "alfa.dk",
        "status": "done",
        "error": "",
        "attempts": 1,
        "created_at": "2026-05-01T10:00:00Z",
        "started_at": "2026-05-01T10:00:01Z",
        "finished_at": "2026-05-01T10:00:04Z",
    }
)
class OperationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Operation
        fields = [
            "id",
            "customer",
            "action",
            "target",
            "status",
            "error",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


@examples(response={"id": 981, "status": "pending"})
class OperationRefSerializer(serializers.Serializer):
    """The operation that carries a change out on the servers."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Operation.Status.choices)


def operation_field():
    """``operation`` of a 202 answer (documentation only: the view adds it to the body)."""
    return OperationRefSerializer(
        required=False,
        help_text="The operation carrying the change out: poll `GET /operations/{id}` (its URL "
        "is also in `Location`) until it is `done` or `failed`.",
    )


@examples(
    response={
        "id": 17,
        "operation": {"id": 981, "status": "pending"},
    }
)
class DeletionAcceptedSerializer(serializers.Serializer):
    """The answer to a DELETE that runs as an operation."""

    id = serializers.IntegerField()
    operation = operation_field()


@examples(
    response={
        "id": 17,
        "customer": 12,
        "server": "web3",
        "plan": 2,
        "primary_domain": "alfa.dk",
        "extra_domains": ["www.alfa.dk"],
        "system_user": "wh00017",
        "document_root": "/var/www/wh00017/public_html",
        "php_version": "8.3",
        "status": "active",
        "disk_used_mb": 412,
        "created_at": "2026-02-01T09:00:00Z",
    }
)
class WebhotelSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name", read_only=True)

    class Meta:
        model = Webhotel
        fields = [
            "id",
            "customer",
            "server",
            "plan",
            "primary_domain",
            "extra_domains",
            "system_user",
            "document_root",
            "php_version",
            "status",
            "disk_used_mb",
            "created_at",
        ]
        read_only_fields = fields


@examples(
    response={
        "id": 17,
        "customer": 12,
        "server": "web3",
        "plan": 2,
        "primary_domain": "alfa.dk",
        "extra_domains": ["www.alfa.dk"],
        "system_user": "wh00017",
        "document_root": "/var/www/wh00017/public_html",
        "php_version": "8.3",
        "status": "active",
        "disk_used_mb": 412,
        "created_at": "2026-02-01T09:00:00Z",
        "operation": {"id": 981, "status": "pending"},
    }
)
class WebhotelAcceptedSerializer(WebhotelSerializer):
    operation = operation_field()

    class Meta(WebhotelSerializer.Meta):
        fields = [*WebhotelSerializer.Meta.fields, "operation"]


@examples(
    request={
        "customer": 12,
        "primary_domain": "alfa.dk",
        "extra_domains": ["www.alfa.dk"],
        "plan": 2,
        "php_version": "8.3",
    }
)
class WebhotelCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    primary_domain = serializers.CharField(max_length=253)
    extra_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=50
    )
    plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.filter(active=True))
    php_version = serializers.ChoiceField(choices=Webhotel.PhpVersion.choices, required=False)


@examples(request={"extra_domains": ["www.alfa.dk", "alfa.com"], "php_version": "8.3"})
class WebhotelUpdateSerializer(serializers.Serializer):
    extra_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=50
    )
    plan = serializers.PrimaryKeyRelatedField(
        queryset=Plan.objects.filter(active=True), required=False
    )
    php_version = serializers.ChoiceField(choices=Webhotel.PhpVersion.choices, required=False)


@examples(
    response={
        "id": 4,
        "webhotel": 17,
        "engine": "mariadb",
        "name": "wh00017_shop",
        "user": "wh00017_shop",
        "status": "pending",
        "created_at": "2026-05-01T10:00:00Z",
    }
)
class DatabaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Database
        fields = ["id", "webhotel", "engine", "name", "user", "status", "created_at"]
        read_only_fields = fields


@examples(request={"webhotel": 17, "engine": "mariadb", "suffix": "shop"})
class DatabaseCreateSerializer(serializers.Serializer):
    webhotel = serializers.IntegerField()
    engine = serializers.ChoiceField(choices=Database.Engine.choices)
    suffix = serializers.RegexField(r"^[a-z0-9_]{1,20}$", max_length=20)


@examples(
    response={
        "id": 4,
        "webhotel": 17,
        "engine": "mariadb",
        "name": "wh00017_shop",
        "user": "wh00017_shop",
        "status": "pending",
        "created_at": "2026-05-01T10:00:00Z",
        "password": "q8Vd2mKx7LpR4sWz",
        "operation": {"id": 981, "status": "pending"},
    }
)
class DatabaseWithPasswordSerializer(DatabaseSerializer):
    password = serializers.CharField(read_only=True, help_text="Shown once; store it now.")
    operation = operation_field()

    class Meta(DatabaseSerializer.Meta):
        fields = [*DatabaseSerializer.Meta.fields, "password", "operation"]


@examples(
    request={"webhotel": 17, "name": "alfa.dk"},
    response={
        "id": 3,
        "webhotel": 17,
        "name": "alfa.dk",
        "status": "pending",
        "created_at": "2026-05-01T10:00:00Z",
    },
)
class MailDomainSerializer(serializers.ModelSerializer):
    class Meta:
        model = MailDomain
        fields = ["id", "webhotel", "name", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]

    webhotel = serializers.IntegerField(source="webhotel_id")


@examples(
    response={
        "id": 3,
        "webhotel": 17,
        "name": "alfa.dk",
        "status": "pending",
        "created_at": "2026-05-01T10:00:00Z",
        "operation": {"id": 981, "status": "pending"},
    }
)
class MailDomainAcceptedSerializer(MailDomainSerializer):
    operation = operation_field()

    class Meta(MailDomainSerializer.Meta):
        fields = [*MailDomainSerializer.Meta.fields, "operation"]


@examples(
    response={
        "id": 9,
        "mail_domain": 3,
        "local_part": "info",
        "address": "info@alfa.dk",
        "quota_mb": 2048,
        "status": "active",
        "created_at": "2026-02-01T09:05:00Z",
    }
)
class MailboxSerializer(serializers.ModelSerializer):
    address = serializers.CharField(read_only=True)

    class Meta:
        model = Mailbox
        fields = ["id", "mail_domain", "local_part", "address", "quota_mb", "status", "created_at"]
        read_only_fields = ["id", "address", "status", "created_at"]

    mail_domain = serializers.IntegerField(source="mail_domain_id")


@examples(
    response={
        "id": 9,
        "mail_domain": 3,
        "local_part": "info",
        "address": "info@alfa.dk",
        "quota_mb": 2048,
        "status": "active",
        "created_at": "2026-02-01T09:05:00Z",
        "operation": {"id": 981, "status": "pending"},
    }
)
class MailboxAcceptedSerializer(MailboxSerializer):
    operation = operation_field()

    class Meta(MailboxSerializer.Meta):
        fields = [*MailboxSerializer.Meta.fields, "operation"]


@examples(request={"mail_domain": 3, "local_part": "info", "quota_mb": 2048})
class MailboxCreateSerializer(serializers.Serializer):
    mail_domain = serializers.IntegerField()
    local_part = serializers.CharField(max_length=64)
    quota_mb = serializers.IntegerField(min_value=10, max_value=1024 * 1024, default=1024)
    password = serializers.CharField(
        max_length=200,
        required=False,
        write_only=True,
        help_text="Leave out to have Havn generate one (returned once).",
    )


@examples(request={"quota_mb": 4096, "suspended": False})
class MailboxUpdateSerializer(serializers.Serializer):
    quota_mb = serializers.IntegerField(min_value=10, max_value=1024 * 1024, required=False)
    password = serializers.CharField(max_length=200, required=False, write_only=True)
    suspended = serializers.BooleanField(required=False)


@examples(
    response={
        "id": 9,
        "mail_domain": 3,
        "local_part": "info",
        "address": "info@alfa.dk",
        "quota_mb": 2048,
        "status": "active",
        "created_at": "2026-02-01T09:05:00Z",
        "password": "Tq4nW8zLm2Xc6Rv9",
        "operation": {"id": 981, "status": "pending"},
    }
)
class MailboxWithPasswordSerializer(MailboxSerializer):
    password = serializers.CharField(
        read_only=True, allow_null=True, help_text="The generated password, shown once."
    )
    operation = operation_field()

    class Meta(MailboxSerializer.Meta):
        fields = [*MailboxSerializer.Meta.fields, "password", "operation"]


@examples(
    request={"mail_domain": 3, "local_part": "salg", "destinations": ["info@alfa.dk"]},
    response={
        "id": 6,
        "mail_domain": 3,
        "local_part": "salg",
        "address": "salg@alfa.dk",
        "destinations": ["info@alfa.dk", "mette@example.com"],
        "status": "active",
        "created_at": "2026-02-01T09:10:00Z",
    },
)
class AliasSerializer(serializers.ModelSerializer):
    address = serializers.CharField(read_only=True)
    mail_domain = serializers.IntegerField(source="mail_domain_id")
    destinations = serializers.ListField(child=serializers.CharField(max_length=254), max_length=50)

    class Meta:
        model = MailAlias
        fields = [
            "id",
            "mail_domain",
            "local_part",
            "address",
            "destinations",
            "status",
            "created_at",
        ]
        read_only_fields = ["id", "address", "status", "created_at"]


@examples(
    response={
        "id": 6,
        "mail_domain": 3,
        "local_part": "salg",
        "address": "salg@alfa.dk",
        "destinations": ["info@alfa.dk"],
        "status": "pending",
        "created_at": "2026-05-01T10:00:00Z",
        "operation": {"id": 981, "status": "pending"},
    }
)
class AliasAcceptedSerializer(AliasSerializer):
    operation = operation_field()

    class Meta(AliasSerializer.Meta):
        fields = [*AliasSerializer.Meta.fields, "operation"]


@examples(
    response={
        "id": 8,
        "customer": 12,
        "name": "alfa.dk",
        "status": "active",
        "expires_at": "2027-02-01T00:00:00Z",
        "auto_renew": True,
        "name_servers": [],
        "whois_privacy": True,
        "dnssec": True,
        "created_at": "2026-02-01T09:00:00Z",
    }
)
class DomainSerializer(serializers.ModelSerializer):
    dnssec = serializers.SerializerMethodField()

    class Meta:
        model = Domain
        fields = [
            "id",
            "customer",
            "name",
            "status",
            "expires_at",
            "auto_renew",
            "name_servers",
            "whois_privacy",
            "dnssec",
            "created_at",
        ]
        read_only_fields = fields

    def get_dnssec(self, domain) -> bool:
        zone = getattr(domain, "zone", None)
        return bool(zone and zone.dnssec)


@examples(
    request={
        "customer": 12,
        "name": "alfa.dk",
        "years": 1,
        "whois_privacy": True,
        "hosted_dns": True,
    }
)
class DomainRegisterSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    name = serializers.CharField(max_length=253)
    years = serializers.IntegerField(min_value=1, max_value=10, default=1)
    whois_privacy = serializers.BooleanField(default=True)
    hosted_dns = serializers.BooleanField(default=True)


@examples(request={"auto_renew": False, "dnssec": True})
class DomainUpdateSerializer(serializers.Serializer):
    auto_renew = serializers.BooleanField(required=False)
    whois_privacy = serializers.BooleanField(required=False)
    name_servers = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=13
    )
    dnssec = serializers.BooleanField(required=False)


@examples(request={"years": 2})
class RenewSerializer(serializers.Serializer):
    years = serializers.IntegerField(min_value=1, max_value=10, default=1)


@examples(response={"auth_code": "MFRG-GZDF-MZTW-Q2LK"})
class TransferCodeSerializer(serializers.Serializer):
    auth_code = serializers.CharField(read_only=True, help_text="Shown once.")


@examples(
    request={"value": "192.0.2.10", "ttl": 600},
    response={
        "id": 44,
        "domain": 8,
        "name": "www",
        "type": "A",
        "value": "192.0.2.10",
        "ttl": 3600,
        "priority": None,
    },
)
class DnsRecordSerializer(serializers.ModelSerializer):
    domain = serializers.IntegerField(source="zone.domain_id", read_only=True)

    class Meta:
        model = DnsRecord
        fields = ["id", "domain", "name", "type", "value", "ttl", "priority"]
        read_only_fields = ["id", "domain"]


@examples(
    request={
        "domain": 8,
        "name": "@",
        "type": "MX",
        "value": "mail.alfa.dk.",
        "ttl": 3600,
        "priority": 10,
    }
)
class DnsRecordCreateSerializer(serializers.Serializer):
    domain = serializers.IntegerField()
    name = serializers.CharField(max_length=253)
    type = serializers.ChoiceField(choices=DnsRecord.Type.choices)
    value = serializers.CharField(max_length=2000)
    ttl = serializers.IntegerField(default=3600)
    priority = serializers.IntegerField(required=False, allow_null=True)


@examples(
    response={
        "id": 21,
        "webhotel": 17,
        "domain": "alfa.dk",
        "domains": ["alfa.dk", "www.alfa.dk"],
        "not_after": "2026-07-30T12:00:00Z",
        "fingerprint": "5d41402abc4b2a76b9719d911017c59228b4d2b4f1a8c3d6e7f8091a2b3c4d5e",
        "issued_at": "2026-05-01T12:00:00Z",
    }
)
class CertificateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Certificate
        fields = ["id", "webhotel", "domain", "domains", "not_after", "fingerprint", "issued_at"]
        read_only_fields = fields


@examples(request={"customer": 12, "cpr": "010203-1234", "name": "Mette Hansen"})
class EidVerificationSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    cpr = serializers.CharField(
        max_length=11, write_only=True, help_text="Used for the check only; never stored."
    )
    name = serializers.CharField(max_length=200)


@examples(
    request={
        "customer": 12,
        "name": "alfa.com",
        "auth_code": "Xk29-Pq7z-Lm3R",
        "whois_privacy": True,
    }
)
class DomainTransferSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    name = serializers.CharField(max_length=253)
    auth_code = serializers.CharField(
        max_length=100,
        write_only=True,
        help_text="The transfer code from the domain's current registrar.",
    )
    whois_privacy = serializers.BooleanField(default=True)


class IdentityDocumentSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    document = serializers.FileField(
        help_text="A scan or photo of a passport, driving licence or national ID card: PDF, "
        "JPEG or PNG, at most 10 MB."
    )


@examples(request={"approved": False, "reason": "The document has expired."})
class IdentityDecisionSerializer(serializers.Serializer):
    approved = serializers.BooleanField()
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required to reject.",
    )


@examples(
    response={
        "id": 2,
        "customer": 12,
        "method": "eid",
        "status": "approved",
        "reference": "mitid-7f3a9c",
        "reason": "",
        "created_at": "2026-01-05T09:40:00Z",
        "decided_at": "2026-01-05T09:40:00Z",
    }
)
class IdentityVerificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityVerification
        fields = [
            "id",
            "customer",
            "method",
            "status",
            "reference",
            "reason",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields
