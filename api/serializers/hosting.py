from rest_framework import serializers

from hosting.models import (
    Database,
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
