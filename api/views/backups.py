"""API views over the backups: the snapshot catalogue, the runs, and backups on demand (202 with
the run to poll)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from api.serializers import backups as s
from api.views.base import CustomerOwnedViewSet
from backups.models import BackupRun, ItemKind, Snapshot
from backups.services import runs
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
