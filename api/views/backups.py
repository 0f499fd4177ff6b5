"""API views over the backups: the snapshot catalogue, the runs, and backups on demand (202 with
the run to poll)."""

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.serializers import backups as s
from api.views.base import CustomerOwnedViewSet
from backups.models import BackupRun, ItemKind, Snapshot
from backups.services import restores, runs
from hosting.models import Database, Mailbox, Webhotel

ITEM_MODELS = {
    ItemKind.WEBHOTEL: Webhotel,
    ItemKind.DATABASE: Database,
    ItemKind.MAILBOX: Mailbox,
}


def accepted_run(request, run: BackupRun) -> Response:
    """202 with the run, and the run's URL to poll in Location."""
    location = request.build_absolute_uri(reverse("api:backuprun-detail", args=[run.pk]))
    return Response(
        s.BackupRunSerializer(run).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": location},
    )


class SnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """The catalogue of snapshots in the store, newest first."""

    model = Snapshot
    serializer_class = s.SnapshotSerializer
    filterset_fields = ["customer", "kind", "item_id"]
    ordering_fields = ["taken_at", "size", "stored"]

    def get_queryset(self):
        return self.model.objects.visible_to(self.request.user).order_by("-taken_at", "-pk")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "path", str, description="The folder to list, relative to the root; empty: root."
            )
        ],
        responses=s.SnapshotEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def entries(self, request, pk=None):
        """What a folder of a webhotel's or mailbox's snapshot holds, folders first: to choose
        what to restore. Staff need the customer's support grant for backups."""
        row = self.get_object()
        if row.kind == ItemKind.DATABASE:
            raise ValidationError({"kind": _("A database dump has no folders to list.")})
        query = s.SnapshotEntriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)  # e.g. a NUL, which no path holds: 400
        folder = query.validated_data["path"]
        entries = restores.snapshot_entries(self.actor, row, folder)
        return Response(s.SnapshotEntrySerializer(entries, many=True).data)


class BackupRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Backup runs: one per item and night, and the on-demand ones; newest first."""

    model = BackupRun
    serializer_class = s.BackupRunSerializer
    filterset_fields = ["customer", "kind", "item_id", "status", "night"]
    ordering_fields = ["night", "created_at"]

    def get_queryset(self):
        return (
            self.model.objects.visible_to(self.request.user)
            .select_related("server")
            .order_by("-pk")
        )

    @extend_schema(request=s.BackupRunCreateSerializer, responses={202: s.BackupRunSerializer})
    def create(self, request):
        """Back an item up now. One on-demand backup per item a day: asking again answers with
        that day's run."""
        data = s.BackupRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind, item_id = data.validated_data["kind"], data.validated_data["item_id"]
        self.visible(ITEM_MODELS[kind], item_id)  # another customer's item: 404
        run = runs.request_backup(self.actor, kind, item_id)
        return accepted_run(request, run)
