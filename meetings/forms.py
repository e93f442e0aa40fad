from datetime import timedelta

from django import forms

from accounts.models import DISPLAY_NAME_MAX_LENGTH
from meetings.models import Role, Room

ROLE_HELP = (
    "Moderators run the meeting; participants send audio, video and screen; "
    "viewers watch and listen."
)


class RoomCreateForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ("name", "lobby_enabled", "max_participants")
        widgets = {"name": forms.TextInput(attrs={"placeholder": "Weekly team call"})}


class RoomSettingsForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = Room.SETTINGS_FIELDS


class AddMemberForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    # Ids of its own: the settings page also shows InviteForm, whose role
    # would otherwise share "id_role" and take this menu's label.
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        initial=Role.PUBLISHER,
        help_text=ROLE_HELP,
        widget=forms.Select(attrs={"id": "member-role"}),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InviteForm(forms.Form):
    LIFETIMES = {
        "1h": ("1 hour", timedelta(hours=1)),
        "1d": ("1 day", timedelta(days=1)),
        "7d": ("7 days", timedelta(days=7)),
        "30d": ("30 days", timedelta(days=30)),
    }

    role = forms.ChoiceField(
        label="Invitees join as",
        choices=Role.choices,
        initial=Role.PUBLISHER,
        help_text=ROLE_HELP,
        widget=forms.Select(attrs={"id": "invite-role"}),
    )
    lifetime = forms.ChoiceField(
        label="Valid for",
        choices=[(k, label) for k, (label, _) in LIFETIMES.items()],
        initial="7d",
    )
    max_uses = forms.IntegerField(
        label="Uses",
        min_value=1,
        max_value=10_000,
        required=False,
        help_text="Empty: no limit.",
    )

    @property
    def expires_in(self) -> timedelta:
        return self.LIFETIMES[self.cleaned_data["lifetime"]][1]


class BanForm(forms.Form):
    DURATIONS = {
        "1h": ("1 hour", timedelta(hours=1)),
        "1d": ("1 day", timedelta(days=1)),
        "7d": ("7 days", timedelta(days=7)),
        "forever": ("For good", None),
    }

    duration = forms.ChoiceField(
        choices=[(k, label) for k, (label, _) in DURATIONS.items()], initial="1d"
    )
    reason = forms.CharField(max_length=200, required=False)

    @property
    def ban_length(self) -> timedelta | None:
        return self.DURATIONS[self.cleaned_data["duration"]][1]


class GuestJoinForm(forms.Form):
    """The name a guest joins by; ``services.guest_join`` has the last word."""

    display_name = forms.CharField(
        label="Your name",
        max_length=DISPLAY_NAME_MAX_LENGTH,
        help_text="Shown to the others in the meeting.",
        widget=forms.TextInput(
            attrs={"id": "guest-name", "autocomplete": "name", "autofocus": True}
        ),
    )
