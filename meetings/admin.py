"""The Django admin: support's window on Parley, and a second way to run rooms.

Rooms, memberships and bans are written here only through the domain services
(``meetings.services``), exactly as the room's own pages write them: the
services check that the admin may moderate the room, write the moderation
log with the admin as actor and tell a live meeting what changed. The admin
adds nothing of its own but the forms, and shows a service's refusal as a form
error or a message, with nothing written.

Who may write: Django's model permissions decide which pages a staff user
sees; the room decides what they may change there. Superusers moderate every
room; any other staff user may change only rooms they own or moderate (and
their members and bans), and sees the others read-only, told why.
"""

import csv
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext, unquote
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from meetings import services
from meetings.errors import MeetingError, NotAllowed
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
    Role,
    Room,
)
from meetings.selectors import room_access_for


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


@admin.display(boolean=True, description="guest", ordering="user__is_guest")
def is_guest(obj: object) -> bool:
    """A list column: whether the person joined by a link with just a name."""
    return obj.user.is_guest


def _guest_mark(user: object) -> str:
    # "yes" or empty: a column a spreadsheet can filter on.
    return "yes" if user is not None and user.is_guest else ""


WHO_MAY_WRITE = (
    "Only superusers and a room's owner and moderators may change the room, its "
    "members and its bans, here as on the room's own pages."
)


def _may_moderate(request: HttpRequest, room: Room | None) -> bool:
    """Whether the admin user may write to ``room`` (the services' own rule).

    Asked many times per page, so remembered for the request.
    """
    if room is None or room.pk is None:
        return True
    cache = request.__dict__.setdefault("_parley_moderates", {})
    if room.pk not in cache:
        cache[room.pk] = room_access_for(user=request.user, room=room).can_moderate
    return cache[room.pk]


def _refusal_text(error: MeetingError) -> str:
    if type(error) is NotAllowed:
        return f"{error} {WHO_MAY_WRITE}"
    return str(error)


def _meeting_running(room: Room) -> bool:
    return Meeting.objects.filter(room=room, ended_at__isnull=True).exists()


@admin.action(
    permissions=["delete"],
    description=gettext_lazy("Delete selected %(verbose_name_plural)s"),
)
def delete_selected(
    modeladmin: "ThroughServicesAdmin", request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Replaces Django's bulk delete (same name, same confirmation page)."""
    return modeladmin.bulk_delete(request, queryset)


class ThroughServicesAdmin(admin.ModelAdmin):
    """An admin whose writes go through the services, room by room.

    Subclasses say which room an object belongs to (``room_of``) and write in
    ``save_model`` and ``delete_model`` by calling a service. A service's
    ``MeetingError`` rolls the whole request back (the view runs in one
    transaction) and is shown as an error on the same form, with what was
    typed still in it; on a delete, as a message. So no "changed successfully"
    ever follows a change that did not happen.
    """

    actions = [delete_selected]

    def room_of(self, obj: object) -> Room:
        raise NotImplementedError

    # Permissions: the model permission, then the room.

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_change_permission(request, obj) and (
            obj is None or _may_moderate(request, self.room_of(obj))
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or _may_moderate(request, self.room_of(obj))
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if request.method == "GET":
            obj = self.get_object(request, unquote(object_id))
            if (
                obj is not None
                and super().has_change_permission(request, obj)
                and not _may_moderate(request, self.room_of(obj))
            ):
                self.message_user(
                    request,
                    f"You can look but not change: you are not a moderator of "
                    f"“{self.room_of(obj)}”. {WHO_MAY_WRITE}",
                    messages.WARNING,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    # Saving: a refusal becomes a form error.

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except MeetingError as error:
            if hasattr(request, "_parley_refusal"):
                raise
            # Rolled back: nothing was written. Validate the same POST again,
            # with the refusal as the form's error, to show it in place.
            request._parley_refusal = _refusal_text(error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self,
        request: HttpRequest,
        obj: object = None,
        change: bool = False,
        **kwargs: object,
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, "_parley_refusal", None)
        if refusal is None:
            return form

        class RefusedForm(form):
            def clean(self) -> dict:
                super().clean()
                raise ValidationError(refusal)

        return RefusedForm

    # Deleting: one, or the selected, each through the service.

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except MeetingError as error:
            self.message_user(request, _refusal_text(error), messages.ERROR)
            return HttpResponseRedirect(self._change_url(object_id))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def bulk_delete_refusal(self, request: HttpRequest, objs: list) -> str | None:
        """Why none of ``objs`` may be deleted, or None."""
        rooms = {}
        for obj in objs:
            room = self.room_of(obj)
            rooms[room.pk] = room
        refused = [r for r in rooms.values() if not _may_moderate(request, r)]
        if not refused:
            return None
        names = ", ".join(f"“{room}”" for room in refused)
        return (
            f"Nothing was deleted: you are not a moderator of {names}. {WHO_MAY_WRITE}"
        )

    def bulk_delete(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        objs = list(queryset)
        refusal = self.bulk_delete_refusal(request, objs)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return None
        if not request.POST.get("post"):
            # Django's confirmation page, which posts back here.
            return django_delete_selected(self, request, queryset)
        return self.delete_confirmed(request, queryset, objs)

    def delete_confirmed(
        self, request: HttpRequest, queryset: QuerySet, objs: list
    ) -> HttpResponse | None:
        """All or nothing: one refusal keeps every selected row."""
        refusals = []
        with transaction.atomic():
            for obj in objs:
                try:
                    with transaction.atomic():
                        self.delete_model(request, obj)
                except MeetingError as error:
                    refusals.append(f"{obj}: {error}")
            if refusals:
                transaction.set_rollback(True)
            else:
                self.log_deletions(request, objs)
        if refusals:
            self.message_user(
                request,
                "Nothing was deleted. " + " ".join(refusals),
                messages.ERROR,
            )
        elif objs:
            self.message_user(
                request,
                f"Successfully deleted {len(objs)} "
                f"{model_ngettext(self.opts, len(objs))}.",
                messages.SUCCESS,
            )
        return None

    def _change_url(self, object_id: str) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[object_id],
            current_app=self.admin_site.name,
        )


class MembershipInlineForm(ModelForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A membership is one person's: to change who, remove it and add one.
        if self.instance.pk is not None and "user" in self.fields:
            self.fields["user"].disabled = True


class MembershipInline(admin.TabularInline):
    """Saved by ``RoomAdmin.save_formset``, through the services."""

    model = Membership
    form = MembershipInlineForm
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)

    # ``obj`` is the room (None while adding one).

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_add_permission(request, obj) and _may_moderate(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_change_permission(request, obj) and _may_moderate(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_delete_permission(request, obj) and _may_moderate(
            request, obj
        )


@admin.register(Room)
class RoomAdmin(ThroughServicesAdmin):
    """Adding: ``room_create``; policy and name: ``room_update_settings``.

    The owner is chosen when adding and read-only afterwards: no service moves
    a room to another owner (that would need its own log entry and rules).
    Deleting is Django's own, but refused while a meeting runs in the room.
    """

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
    list_filter = (
        "is_locked",
        "lobby_enabled",
        "guests_allowed",
        "chat_enabled",
        "screen_share_policy",
    )
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
                    "guests_allowed",
                    "max_participants",
                    "screen_share_policy",
                    "chat_enabled",
                    "viewers_may_chat",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def room_of(self, obj: Room) -> Room:
        return obj

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple:
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, "owner") if obj is not None else readonly

    def save_model(
        self, request: HttpRequest, obj: Room, form: ModelForm, change: bool
    ) -> None:
        if change:
            # ``obj`` already holds the form's values; the service compares
            # against the room as stored.
            stored = Room.objects.get(pk=obj.pk)
            changes = {
                field: getattr(obj, field)
                for field in Room.SETTINGS_FIELDS
                if field in form.changed_data
            }
            if changes:
                services.room_update_settings(
                    actor=request.user, room=stored, **changes
                )
            return
        if not request.user.is_superuser and obj.owner_id != request.user.pk:
            raise MeetingError(
                "Only a superuser can create a room for someone else: choose "
                "yourself as its owner.",
                code="forbidden",
            )
        room = services.room_create(
            owner=obj.owner,
            name=obj.name,
            lobby_enabled=obj.lobby_enabled,
            max_participants=obj.max_participants,
            screen_share_policy=obj.screen_share_policy,
            chat_enabled=obj.chat_enabled,
            viewers_may_chat=obj.viewers_may_chat,
        )
        # What room_create does not take is set as a change, and logged as one.
        later = {f: True for f in ("is_locked", "guests_allowed") if getattr(obj, f)}
        if later:
            services.room_update_settings(actor=request.user, room=room, **later)
        _become(obj, room)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: object, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        room = formset.instance
        # What Django's formset.save() would record, for the admin's history.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = (
            [],
            [],
            [],
        )
        # Removals first, then role changes, then additions: the order a
        # moderator would take, so a row removed and added again both count.
        deleted = set(formset.deleted_forms)
        for subform in formset.initial_forms:
            if subform in deleted:
                membership = subform.instance
                services.membership_remove(
                    actor=request.user, room=room, user=membership.user
                )
                formset.deleted_objects.append(membership)
        for subform in formset.initial_forms:
            if subform not in deleted and "role" in subform.changed_data:
                membership = subform.instance
                services.membership_set_role(
                    actor=request.user,
                    room=room,
                    user=membership.user,
                    role=Role(subform.cleaned_data["role"]),
                )
                formset.changed_objects.append((membership, ["role"]))
        for subform in formset.extra_forms:
            if not subform.has_changed() or subform in deleted:
                continue
            membership = services.membership_set_role(
                actor=request.user,
                room=room,
                user=subform.cleaned_data["user"],
                role=Role(subform.cleaned_data["role"]),
            )
            subform.instance = membership
            formset.new_objects.append(membership)

    # Deleting: never under a running meeting.

    def _running_refusal(self, rooms: list[Room]) -> str | None:
        running = [room for room in rooms if _meeting_running(room)]
        if not running:
            return None
        names = ", ".join(f"“{room}”" for room in running)
        return (
            f"Nothing was deleted: a meeting is running in {names}. Deleting a "
            "room would cut everyone in it off mid-call. End the meeting from the "
            "room itself (administrators moderate every room) or wait until "
            "everyone has left, then delete."
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        room = self.get_object(request, unquote(object_id))
        if room is not None and self.has_delete_permission(request, room):
            refusal = self._running_refusal([room])
            if refusal:
                self.message_user(request, refusal, messages.ERROR)
                return HttpResponseRedirect(self._change_url(object_id))
        return super().delete_view(request, object_id, extra_context)

    def bulk_delete_refusal(self, request: HttpRequest, objs: list) -> str | None:
        return super().bulk_delete_refusal(request, objs) or self._running_refusal(objs)

    def delete_confirmed(
        self, request: HttpRequest, queryset: QuerySet, objs: list
    ) -> HttpResponse | None:
        # Django's confirmation page, checked above; it ends in
        # delete_queryset.
        return django_delete_selected(self, request, queryset)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for room in queryset:
            services.room_delete(room=room)

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        services.room_delete(room=obj)


def _become(obj: object, saved: object) -> None:
    """Turn the form's unsaved ``obj`` into the row a service saved.

    The admin goes on with ``obj`` (its history entry, the redirect), so it
    must be that row.
    """
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


@admin.register(Membership)
class MembershipAdmin(ThroughServicesAdmin):
    """Add and role change: ``membership_set_role``; delete: ``membership_remove``."""

    list_display = ("user", is_guest, "room", "role", "created_at")
    list_filter = ("role", "user__is_guest")
    search_fields = ("user__email", "user__display_name", "room__name", "room__slug")
    list_select_related = ("user", "room")
    autocomplete_fields = ("user", "room")
    fields = ("room", "user", "role", "created_at")

    def room_of(self, obj: Membership) -> Room:
        return obj.room

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple:
        # Only the role changes: another person or room is another membership.
        return ("room", "user", "created_at") if obj is not None else ("created_at",)

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool
    ) -> None:
        if change and "role" not in form.changed_data:
            return
        membership = services.membership_set_role(
            actor=request.user, room=obj.room, user=obj.user, role=Role(obj.role)
        )
        if not change:
            _become(obj, membership)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_remove(actor=request.user, room=obj.room, user=obj.user)


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


def duration_text(length: timedelta) -> str:
    """A duration as people read it: "1 h 05 min", "4 min 12 s", "12 s"."""
    minutes, seconds = divmod(int(length.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


class AttendanceInline(admin.TabularInline):
    model = Attendance
    extra = 0
    fields = ("user", "joined_at", "left_at", "left_reason")
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
    readonly_fields = ("room", "started_at", "ended_at", "duration")
    inlines = (AttendanceInline,)

    @admin.display(description="duration")
    def duration(self, meeting: Meeting) -> str | None:
        # None (shown as "-") while the meeting runs.
        return None if meeting.duration is None else duration_text(meeting.duration)

    @admin.display(description="attendees")
    def attendee_count(self, meeting: Meeting) -> int:
        return meeting.attendances.values("user").distinct().count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ("user", is_guest, "meeting", "joined_at", "left_at", "left_reason")
    list_filter = ("left_reason", "user__is_guest", "joined_at")
    search_fields = ("user__email", "user__display_name", "meeting__room__name")
    date_hierarchy = "joined_at"
    list_select_related = ("user", "meeting__room")
    readonly_fields = ("meeting", "user", "joined_at", "left_at", "left_reason")
    actions = [
        csv_export(
            "attendance",
            [
                "room",
                "meeting started",
                "name",
                "e-mail",
                "guest",
                "joined",
                "left",
                "why they left",
            ],
            lambda a: [
                a.meeting.room.name,
                a.meeting.started_at.isoformat(),
                a.user.display_name,
                "" if a.user.is_guest else a.user.email,  # a guest's is made up
                _guest_mark(a.user),
                a.joined_at.isoformat(),
                a.left_at.isoformat() if a.left_at else "",
                a.get_left_reason_display(),
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
            ["room", "time", "author", "message", "guest"],
            lambda m: [
                m.room.name,
                m.created_at.isoformat(),
                m.author_name,
                m.body,
                _guest_mark(m.author),
            ],
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
class BanAdmin(ThroughServicesAdmin):
    """Add and change: ``user_ban``; delete: ``ban_lift``."""

    list_display = (
        "user",
        is_guest,
        "room",
        "until",
        "reason",
        "created_by",
        "created_at",
    )
    list_filter = (("until", admin.EmptyFieldListFilter), "user__is_guest")
    search_fields = ("user__email", "user__display_name", "room__name", "reason")
    list_select_related = ("user", "room", "created_by")
    autocomplete_fields = ("user", "room")
    fields = ("room", "user", "until", "reason", "created_by", "created_at")

    def room_of(self, obj: Ban) -> Room:
        return obj.room

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple:
        # ``created_by`` is whoever banned: the service sets it.
        if obj is not None:
            return ("room", "user", "created_by", "created_at")
        return ("created_by", "created_at")

    def save_model(
        self, request: HttpRequest, obj: Ban, form: ModelForm, change: bool
    ) -> None:
        if change and not form.changed_data:
            return
        ban = services.user_ban(
            actor=request.user,
            room=obj.room,
            user=obj.user,
            until=obj.until,
            reason=obj.reason,
        )
        _become(obj, ban)

    def delete_model(self, request: HttpRequest, obj: Ban) -> None:
        services.ban_lift(actor=request.user, room=obj.room, user=obj.user)


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    """Live presence: read-only, for support ("who is in that meeting now?")."""

    list_display = (
        "display_name",
        is_guest,
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
        "user__is_guest",
    )
    search_fields = ("display_name", "user__email", "room__name", "room__slug")
    list_select_related = ("room", "user")
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
