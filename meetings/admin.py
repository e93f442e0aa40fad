import csv

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from meetings.models import (
    Attendance,
    Ban,
    ChatMessage,
    Invite,
    LobbyRequest,
    Meeting,
    Membership,
    ModerationAction,
    Participant,
    PrecallReport,
    Room,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only the app writes: admins read and delete them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def csv_export(filename: str, header: list[str], row: callable) -> callable:
    """An admin action that downloads the selected rows as CSV."""

    def export(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="{filename}-{stamp}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow(header)
        for obj in queryset.iterator():
            writer.writerow([_csv_safe(value) for value in row(obj)])
        return response

    export.short_description = "Export selected as CSV"
    export.__name__ = f"export_{filename}_csv"
    return export


def _csv_safe(value: object) -> object:
    # Spreadsheets run cells that start with = + - @ as formulas; chat is user input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "owner",
        "is_locked",
        "lobby_enabled",
        "max_participants",
        "chat_enabled",
        "created_at",
    )
    list_filter = ("is_locked", "lobby_enabled", "chat_enabled", "screen_share_policy")
    search_fields = ("name", "slug", "owner__email", "owner__display_name")
    readonly_fields = ("slug", "created_at", "updated_at")
    autocomplete_fields = ("owner",)
    inlines = (MembershipInline,)
    fieldsets = (
        (None, {"fields": ("name", "slug", "owner")}),
        (
            "Policy",
            {
                "fields": (
                    "is_locked",
                    "lobby_enabled",
                    "max_participants",
                    "screen_share_policy",
                    "chat_enabled",
                    "viewers_may_chat",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "user__display_name", "room__name", "room__slug")
    autocomplete_fields = ("user", "room")


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = (
        "room",
        "role",
        "created_by",
        "expires_at",
        "use_count",
        "max_uses",
        "revoked_at",
    )
    list_filter = ("role",)
    search_fields = ("room__name", "room__slug")
    autocomplete_fields = ("room", "created_by")
    readonly_fields = ("use_count", "created_at")


class AttendanceInline(admin.TabularInline):
    model = Attendance
    extra = 0
    fields = ("user", "joined_at", "left_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("room", "started_at", "ended_at", "duration", "attendee_count")
    list_filter = (("ended_at", admin.EmptyFieldListFilter), "started_at")
    search_fields = ("room__name", "room__slug")
    date_hierarchy = "started_at"
    readonly_fields = ("room", "started_at", "ended_at")
    inlines = (AttendanceInline,)

    @admin.display(description="attendees")
    def attendee_count(self, meeting: Meeting) -> int:
        return meeting.attendances.values("user").distinct().count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ("user", "meeting", "joined_at", "left_at")
    list_filter = ("joined_at",)
    search_fields = ("user__email", "user__display_name", "meeting__room__name")
    date_hierarchy = "joined_at"
    list_select_related = ("user", "meeting__room")
    readonly_fields = ("meeting", "user", "joined_at", "left_at")
    actions = [
        csv_export(
            "attendance",
            ["room", "meeting started", "name", "e-mail", "joined", "left"],
            lambda a: [
                a.meeting.room.name,
                a.meeting.started_at.isoformat(),
                a.user.display_name,
                a.user.email,
                a.joined_at.isoformat(),
                a.left_at.isoformat() if a.left_at else "",
            ],
        )
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "room", "author_name", "body")
    list_filter = ("created_at",)
    search_fields = ("body", "author_name", "room__name", "room__slug")
    date_hierarchy = "created_at"
    list_select_related = ("room",)
    readonly_fields = ("room", "meeting", "author", "author_name", "body", "created_at")
    actions = [
        csv_export(
            "chat",
            ["room", "time", "author", "message"],
            lambda m: [m.room.name, m.created_at.isoformat(), m.author_name, m.body],
        )
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    """The log is evidence: nobody edits or deletes it from here."""

    list_display = ("created_at", "room", "actor", "action", "target", "detail")
    list_filter = ("action", "created_at")
    search_fields = ("room__name", "actor__email", "target__email", "detail")
    date_hierarchy = "created_at"
    list_select_related = ("room", "actor", "target")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "until", "reason", "created_by", "created_at")
    list_filter = (("until", admin.EmptyFieldListFilter),)
    search_fields = ("user__email", "user__display_name", "room__name", "reason")
    autocomplete_fields = ("user", "room", "created_by")


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    """Live presence: read-only, for support ("who is in that meeting now?")."""

    list_display = (
        "display_name",
        "room",
        "joined_at",
        "left_at",
        "is_connected",
        "audio_on",
        "video_on",
        "audio_hard_muted",
        "removed",
    )
    list_filter = (
        ("left_at", admin.EmptyFieldListFilter),
        "removed",
        "audio_hard_muted",
    )
    search_fields = ("display_name", "user__email", "room__name", "room__slug")
    list_select_related = ("room",)
    readonly_fields = [f.name for f in Participant._meta.fields]

    @admin.display(boolean=True, description="connected")
    def is_connected(self, participant: Participant) -> bool:
        return participant.is_connected


@admin.register(LobbyRequest)
class LobbyRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "display_name",
        "room",
        "status",
        "created_at",
        "decided_at",
        "decided_by",
    )
    list_filter = ("status", "created_at")
    search_fields = ("display_name", "user__email", "room__name", "room__slug")
    list_select_related = ("room", "decided_by")
    readonly_fields = [f.name for f in LobbyRequest._meta.fields]


@admin.register(PrecallReport)
class PrecallReportAdmin(ReadOnlyAdmin):
    """Pre-call checks, for support: "what did this person's browser find?"."""

    list_display = (
        "user",
        "room",
        "created_at",
        "browser",
        "cameras",
        "microphones",
        "camera_permission",
        "reachable_by",
    )
    list_filter = ("created_at", "browser")
    search_fields = ("user__email", "user__display_name", "room__slug", "room__name")
    list_select_related = ("user", "room")
    readonly_fields = [f.name for f in PrecallReport._meta.fields]
    date_hierarchy = "created_at"

    @admin.display(description="cameras")
    def cameras(self, report: PrecallReport) -> int:
        return len(report.devices.get("videoinput", []))

    @admin.display(description="microphones")
    def microphones(self, report: PrecallReport) -> int:
        return len(report.devices.get("audioinput", []))

    @admin.display(description="camera permission")
    def camera_permission(self, report: PrecallReport) -> str:
        return report.permissions.get("camera", "unknown")

    @admin.display(description="network")
    def reachable_by(self, report: PrecallReport) -> str:
        return ", ".join(report.candidate_kinds) or "no connection"
