"""Staff API over whole-server recoveries: start one (202, poll it) and follow it."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from accounts.actor import Actor
from api.serializers import recoveries as s
from api.views.base import IsStaff
from backups.models import ServerRecovery
from backups.services import recovery


class ServerRecoveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Staff: recover every webhotel, database and mailbox of a crashed server as it was at a
    point in time, onto the server or a replacement, newest first."""

    serializer_class = s.ServerRecoverySerializer
    permission_classes = [IsStaff]
    # The model for the schema, which must not call get_queryset() (it checks the caller).
    queryset = ServerRecovery.objects.none()
    filterset_fields = ["server", "status"]

    def get_queryset(self):  # IsStaff: every staff role may run recoveries ("recovery.run")
        return (
            ServerRecovery.objects.select_related("started_by")
            .prefetch_related("orders")
            .order_by("-started_at", "-pk")
        )

    @extend_schema(request=s.RecoveryStartSerializer, responses={202: s.ServerRecoverySerializer})
    def create(self, request):
        """Start the recovery: answers 202 with the recovery to poll in `Location`."""
        data = s.RecoveryStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        started = recovery.start_recovery(
            Actor.from_request(request), fields.pop("server"), **fields
        )
        started = self.get_queryset().get(pk=started.pk)
        location = reverse("api:serverrecovery-detail", args=[started.pk])
        return Response(
            s.ServerRecoverySerializer(started).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )
