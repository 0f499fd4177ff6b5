from rest_framework import serializers

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


class ConfirmHostKeySerializer(serializers.Serializer):
    fingerprint = serializers.CharField(max_length=100)


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


class WebhotelCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    primary_domain = serializers.CharField(max_length=253)
    extra_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=50
    )
    plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.filter(active=True))
    php_version = serializers.ChoiceField(choices=Webhotel.PhpVersion.choices, required=False)


class WebhotelUpdateSerializer(serializers.Serializer):
    extra_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=50
    )
    plan = serializers.PrimaryKeyRelatedField(
        queryset=Plan.objects.filter(active=True), required=False
    )
    php_version = serializers.ChoiceField(choices=Webhotel.PhpVersion.choices, required=False)


class DatabaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Database
        fields = ["id", "webhotel", "engine", "name", "user", "status", "created_at"]
        read_only_fields = fields


class DatabaseCreateSerializer(serializers.Serializer):
    webhotel = serializers.IntegerField()
    engine = serializers.ChoiceField(choices=Database.Engine.choices)
    suffix = serializers.RegexField(r"^[a-z0-9_]{1,20}$", max_length=20)


class DatabaseWithPasswordSerializer(DatabaseSerializer):
    password = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(DatabaseSerializer.Meta):
        fields = [*DatabaseSerializer.Meta.fields, "password"]
        read_only_fields = fields


class MailDomainSerializer(serializers.ModelSerializer):
    class Meta:
        model = MailDomain
        fields = ["id", "webhotel", "name", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]

    webhotel = serializers.IntegerField(source="webhotel_id")


class MailboxSerializer(serializers.ModelSerializer):
    address = serializers.CharField(read_only=True)

    class Meta:
        model = Mailbox
        fields = ["id", "mail_domain", "local_part", "address", "quota_mb", "status", "created_at"]
        read_only_fields = ["id", "address", "status", "created_at"]

    mail_domain = serializers.IntegerField(source="mail_domain_id")


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


class MailboxUpdateSerializer(serializers.Serializer):
    quota_mb = serializers.IntegerField(min_value=10, max_value=1024 * 1024, required=False)
    password = serializers.CharField(max_length=200, required=False, write_only=True)
    suspended = serializers.BooleanField(required=False)


class MailboxWithPasswordSerializer(MailboxSerializer):
    password = serializers.CharField(
        read_only=True, allow_null=True, help_text="The generated password, shown once."
    )

    class Meta(MailboxSerializer.Meta):
        fields = [*MailboxSerializer.Meta.fields, "password"]


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


class DomainRegisterSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    name = serializers.CharField(max_length=253)
    years = serializers.IntegerField(min_value=1, max_value=10, default=1)
    whois_privacy = serializers.BooleanField(default=True)
    hosted_dns = serializers.BooleanField(default=True)


class DomainUpdateSerializer(serializers.Serializer):
    auto_renew = serializers.BooleanField(required=False)
    whois_privacy = serializers.BooleanField(required=False)
    name_servers = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=13
    )
    dnssec = serializers.BooleanField(required=False)


class RenewSerializer(serializers.Serializer):
    years = serializers.IntegerField(min_value=1, max_value=10, default=1)


class TransferCodeSerializer(serializers.Serializer):
    auth_code = serializers.CharField(read_only=True, help_text="Shown once.")


class DnsRecordSerializer(serializers.ModelSerializer):
    domain = serializers.IntegerField(source="zone.domain_id", read_only=True)

    class Meta:
        model = DnsRecord
        fields = ["id", "domain", "name", "type", "value", "ttl", "priority"]
        read_only_fields = ["id", "domain"]


class DnsRecordCreateSerializer(serializers.Serializer):
    domain = serializers.IntegerField()
    name = serializers.CharField(max_length=253)
    type = serializers.ChoiceField(choices=DnsRecord.Type.choices)
    value = serializers.CharField(max_length=2000)
    ttl = serializers.IntegerField(default=3600)
    priority = serializers.IntegerField(required=False, allow_null=True)


class CertificateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Certificate
        fields = ["id", "webhotel", "domain", "domains", "not_after", "fingerprint", "issued_at"]
        read_only_fields = fields


class EidVerificationSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    cpr = serializers.CharField(
        max_length=11, write_only=True, help_text="Used for the check only; never stored."
    )
    name = serializers.CharField(max_length=200)


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
