from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User

GUEST_FIELDS = ("is_guest", "guest_room")


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "display_name")


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = (
        "email",
        "display_name",
        "is_guest",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_guest", "is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("email", "display_name")
    ordering = ("email",)
    # Being a guest is decided when someone joins by a link, never here: a
    # guest made a full account (or the reverse) would escape, or lose, the
    # one-room scope.
    readonly_fields = ("is_guest", "guest_room", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "display_name", "password")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> tuple:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.is_guest:
            return (*fieldsets[:1], ("Guest", {"fields": GUEST_FIELDS}), *fieldsets[1:])
        return fieldsets

    @admin.display(description="guest in room")
    def guest_room(self, user: User) -> str:
        # Through the reverse relation: accounts does not import meetings.
        try:
            room = user.guest.room
        except ObjectDoesNotExist:
            return "-"
        url = reverse("admin:meetings_room_change", args=[room.pk])
        return format_html('<a href="{}">{}</a> ({})', url, room.name, room.slug)

    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "display_name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
