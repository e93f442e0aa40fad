"""Pages for rooms. Each view: parse, authorise (``_room_for``), call a service,
respond. No rule lives here that the services or the access rule do not own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.forms import ProfileForm
from accounts.models import User
from accounts.throttle import guest_join_allowed
from meetings import selectors, services
from meetings.errors import InvalidOperation, InviteUnusable, MeetingError
from meetings.forms import (
    AddMemberForm,
    BanForm,
    GuestJoinForm,
    InviteForm,
    RoleForm,
    RoomCreateForm,
    RoomSettingsForm,
)
from meetings.models import Invite, Role, Room, invite_token
from meetings.selectors import Denial, RoomAccess, room_access_for


def _room_for(
    request: HttpRequest, slug: str, *, moderator: bool = False
) -> tuple[Room, RoomAccess]:
    """The one access check for room pages.

    Outsiders get 404, so that a room's existence is not confirmed to them;
    banned users get 403 with the reason; members without the moderator role
    get 403 on moderator pages.
    """
    room = Room.objects.select_related("owner").filter(slug=slug).first()
    if room is None:
        raise Http404("No such room.")
    access = room_access_for(user=request.user, room=room)
    if access.denial == Denial.BANNED:
        raise PermissionDenied(access.ban_message)
    if not access.can_join:
        raise Http404("No such room.")
    if moderator and not access.can_moderate:
        raise PermissionDenied("Only moderators can change this room's settings.")
    return room, access


def moderator_action(view: Callable[..., None]) -> Callable[..., HttpResponse]:
    """A POST-only moderator endpoint that ends on the settings page.

    The wrapped view does the work; errors from the domain become a message.
    """

    @wraps(view)
    @login_required
    @require_POST
    def wrapper(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
        room, _access = _room_for(request, slug, moderator=True)
        try:
            view(request, room, **kwargs)
        except MeetingError as exc:
            messages.error(request, str(exc))
        return redirect("room_settings", slug=room.slug)

    return wrapper


@login_required
def home(request: HttpRequest) -> HttpResponse:
    rooms = selectors.rooms_for_user(user=request.user)
    return render(request, "meetings/home.html", {"rooms": rooms})


@login_required
def room_create(request: HttpRequest) -> HttpResponse:
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = services.room_create(owner=request.user, **form.cleaned_data)
        # No "ready" message: the room page is the call, and a message above
        # it pushes the toolbar off small screens.
        return redirect(room)
    return render(request, "meetings/room_create.html", {"form": form})


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The pre-call check, then the meeting itself, in one page: the camera
    and microphone the check opened carry straight into the call."""
    room, access = _room_for(request, slug)
    client_config = {
        "room": {"slug": room.slug, "name": room.name},
        "capabilities": access.capabilities,
        "urls": {
            "socket": f"/ws/rooms/{room.slug}/",
            "precall": reverse("room_precall", args=[room.slug]),
            "ice_servers": reverse("ice_servers"),
            "home": reverse("home"),
            # POST: a new invite link for moderators (JSON).
            "invite_link": reverse("invite_link", args=[room.slug]),
        },
    }
    return render(
        request,
        "meetings/room.html",
        {
            "room": room,
            "access": access,
            "client_config": client_config,
            # Put out of the running meeting: a reload must not offer to join.
            "removed": selectors.participant_is_removed(room=room, user=request.user),
        },
    )


@login_required
@require_POST
def room_precall(request: HttpRequest, slug: str) -> JsonResponse:
    """Saves a pre-call report (JSON); also the display name typed there."""
    room, _access = _room_for(request, slug)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "Send the report as JSON."}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "Send the report as a JSON object."}, status=400)
    name = body.get("display_name")
    if name is not None and name != request.user.display_name:
        form = ProfileForm({"display_name": name}, instance=request.user)
        if not form.is_valid():
            return JsonResponse(
                {"error": form.errors["display_name"][0], "field": "display_name"},
                status=400,
            )
        form.save()
    try:
        report = services.precall_report_save(
            user=request.user,
            room=room,
            report=body.get("report", {}),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except MeetingError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {"report": report.pk, "display_name": request.user.display_name}, status=201
    )


@login_required
def room_settings(request: HttpRequest, slug: str) -> HttpResponse:
    room, access = _room_for(request, slug, moderator=True)
    # The form validates a scratch copy: ModelForm writes into its instance,
    # and the service needs the room as it was to see what changed.
    form = RoomSettingsForm(request.POST or None, instance=Room.objects.get(pk=room.pk))
    if request.method == "POST" and form.is_valid():
        services.room_update_settings(
            actor=request.user, room=room, **form.cleaned_data
        )
        messages.success(request, "Room settings saved.")
        return redirect("room_settings", slug=room.slug)
    new_invite = None
    new_invite_id = request.session.pop("new_invite_id", None)
    if new_invite_id:
        new_invite = Invite.objects.filter(pk=new_invite_id, room=room).first()
    bans = list(selectors.room_active_bans(room=room))
    context = {
        "room": room,
        "access": access,
        "form": form,
        "members": selectors.room_members(room=room),
        "invites": [
            (invite, request.build_absolute_uri(_invite_path(invite)))
            for invite in selectors.room_active_invites(room=room)
        ],
        "new_invite": new_invite,
        "bans": bans,
        "banned_ids": {ban.user_id for ban in bans},
        "add_member_form": AddMemberForm(),
        "invite_form": InviteForm(),
        "ban_form": BanForm(),
        "roles": Role.choices,
    }
    return render(request, "meetings/room_settings.html", context)


def _invite_path(invite: Invite) -> str:
    return reverse("invite_accept", args=[invite_token(invite)])


@moderator_action
def member_add(request: HttpRequest, room: Room) -> None:
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        raise MeetingError("Enter a valid e-mail address and role.")
    membership = services.membership_add(
        actor=request.user,
        room=room,
        email=form.cleaned_data["email"],
        role=Role(form.cleaned_data["role"]),
    )
    messages.success(request, f"{membership.user.display_name} is now a member.")


@moderator_action
def member_role(request: HttpRequest, room: Room, user_id: int) -> None:
    form = RoleForm(request.POST)
    if not form.is_valid():
        raise MeetingError("Choose moderator, publisher or viewer.")
    user = get_object_or_404(User, pk=user_id, memberships__room=room)
    role = Role(form.cleaned_data["role"])
    services.membership_set_role(actor=request.user, room=room, user=user, role=role)
    messages.success(request, f"{user.display_name} is now a {role.label.lower()}.")


@moderator_action
def member_remove(request: HttpRequest, room: Room, user_id: int) -> None:
    user = get_object_or_404(User, pk=user_id, memberships__room=room)
    services.membership_remove(actor=request.user, room=room, user=user)
    messages.success(request, f"{user.display_name} is no longer a member.")


@moderator_action
def member_ban(request: HttpRequest, room: Room, user_id: int) -> None:
    form = BanForm(request.POST)
    if not form.is_valid():
        raise MeetingError("Choose how long the ban lasts.")
    user = get_object_or_404(User, pk=user_id, memberships__room=room)
    length = form.ban_length
    services.user_ban(
        actor=request.user,
        room=room,
        user=user,
        until=timezone.now() + length if length else None,
        reason=form.cleaned_data["reason"],
    )
    messages.success(request, f"{user.display_name} is banned from this room.")


@moderator_action
def ban_lift(request: HttpRequest, room: Room, user_id: int) -> None:
    user = get_object_or_404(User, pk=user_id)
    services.ban_lift(actor=request.user, room=room, user=user)
    messages.success(request, f"{user.display_name} may join again.")


@moderator_action
def invite_new(request: HttpRequest, room: Room) -> None:
    form = InviteForm(request.POST)
    if not form.is_valid():
        raise MeetingError("Check the invite's role, lifetime and number of uses.")
    invite = services.invite_create(
        actor=request.user,
        room=room,
        role=Role(form.cleaned_data["role"]),
        expires_in=form.expires_in,
        max_uses=form.cleaned_data["max_uses"],
    )
    request.session["new_invite_id"] = invite.pk
    messages.success(
        request, "Invite link created. Copy it and send it to the people you invite."
    )


@moderator_action
def invite_revoke(request: HttpRequest, room: Room, invite_id: int) -> None:
    invite = get_object_or_404(Invite, pk=invite_id, room=room)
    services.invite_revoke(actor=request.user, invite=invite)
    messages.success(request, "Invite withdrawn: its link no longer works.")


# Invite links


def invite_link(request: HttpRequest, slug: str) -> JsonResponse:
    """The meeting page's "Copy invite link" (JSON, moderators only)."""
    if request.method != "POST":
        response = JsonResponse({"error": "Ask for a link with POST."}, status=405)
        response["Allow"] = "POST"
        return response
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Sign in again to share this room."}, status=403)
    try:
        room, _access = _room_for(request, slug, moderator=True)
    except Http404:
        return JsonResponse({"error": "No such room."}, status=404)
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    try:
        invite, created = services.invite_for_sharing(actor=request.user, room=room)
    except MeetingError as exc:
        status = 403 if exc.code == "forbidden" else 400
        return JsonResponse({"error": str(exc)}, status=status)
    role = Role(invite.role)
    return JsonResponse(
        {
            "url": request.build_absolute_uri(_invite_path(invite)),
            "role": role.value,
            "role_label": role.label,
            "expires_at": invite.expires_at.isoformat(),
            "guests_allowed": room.guests_allowed,
        },
        status=201 if created else 200,
    )


def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Where an invite link leads: who invited you to which room, then in.

    Signed out, you join as a guest with just a name (if the room takes
    guests) or sign in or sign up and come back here. Signed in, you confirm
    and become a member. A guest of this room goes straight back in, as the
    same person (a removal from the meeting still holds); a guest of another
    room is signed out first and starts afresh.
    """
    if request.user.is_authenticated and request.user.is_guest:
        known = selectors.invite_from_token(token=token)
        guest = selectors.guest_of(request.user)
        if known is not None and guest is not None and known.room_id == guest.room_id:
            return _guest_returns(request, token, guest.room)
        logout(request)
    try:
        invite = services.invite_resolve(token=token)
    except InviteUnusable as exc:
        return _invite_refused(request, str(exc), status=410)
    if not request.user.is_authenticated:
        return _invite_for_visitor(request, invite, token)
    if request.method == "POST":
        try:
            services.invite_accept(user=request.user, token=token)
        except MeetingError as exc:
            return _invite_refused(request, str(exc), status=403)
        # No "You have joined" message: it would sit above the call.
        return redirect(invite.room)
    access = room_access_for(user=request.user, room=invite.room)
    return render(
        request, "meetings/invite_accept.html", {"invite": invite, "access": access}
    )


def _invite_refused(request: HttpRequest, reason: str, *, status: int) -> HttpResponse:
    return render(
        request, "meetings/invite_invalid.html", {"reason": reason}, status=status
    )


def _guest_returns(request: HttpRequest, token: str, room: Room) -> HttpResponse:
    """A guest opens a link of their own room again: back to the meeting.

    Only a ban keeps them from the room page (their link is withdrawn then).
    Taken off the members, they come back by a working link as anyone would;
    removed from the meeting, the meeting itself keeps them out until it ends.
    """
    access = room_access_for(user=request.user, room=room)
    if access.denial == Denial.BANNED:
        return _invite_refused(request, access.ban_message, status=403)
    if not access.can_join:
        try:
            services.invite_accept(user=request.user, token=token)
        except InviteUnusable as exc:
            return _invite_refused(request, str(exc), status=410)
        except MeetingError as exc:
            return _invite_refused(request, str(exc), status=403)
    return redirect(room)


def _invite_for_visitor(
    request: HttpRequest, invite: Invite, token: str
) -> HttpResponse:
    """Signed out: join as a guest, or sign in or up and come back here."""
    room = invite.room
    form = GuestJoinForm(request.POST or None) if room.guests_allowed else None
    status = 200
    if request.method == "POST":
        if form is None:
            status = 403  # the room takes no guests: the page says what to do
        elif form.is_valid() and not guest_join_allowed(request=request):
            form.add_error(
                None,
                "Too many guests joined from your network in the last hour. "
                "Try again later, or ask the person who invited you for an account.",
            )
            status = 429
        elif form.is_valid():
            try:
                user = services.guest_join(
                    token=token, display_name=form.cleaned_data["display_name"]
                )
            except InviteUnusable as exc:
                return _invite_refused(request, str(exc), status=410)
            except InvalidOperation as exc:
                form.add_error("display_name", str(exc))
            except MeetingError:
                form, status = None, 403  # guests were turned off meanwhile
            else:
                login(
                    request, user, backend="django.contrib.auth.backends.ModelBackend"
                )
                return redirect(room)
    back = urlencode({"next": request.path})
    context = {
        "invite": invite,
        "room": room,
        "guest_form": form,
        "login_url": f"{reverse('login')}?{back}",
        "signup_url": f"{reverse('signup')}?{back}",
    }
    return render(request, "meetings/invite_accept.html", context, status=status)
