from django.urls import path

from meetings import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("r/<slug:slug>/", views.room_detail, name="room"),
    path("r/<slug:slug>/precall/", views.room_precall, name="room_precall"),
    path("r/<slug:slug>/settings/", views.room_settings, name="room_settings"),
    path("r/<slug:slug>/members/add/", views.member_add, name="member_add"),
    path(
        "r/<slug:slug>/members/<int:user_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "r/<slug:slug>/members/<int:user_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "r/<slug:slug>/members/<int:user_id>/ban/", views.member_ban, name="member_ban"
    ),
    path("r/<slug:slug>/bans/<int:user_id>/lift/", views.ban_lift, name="ban_lift"),
    path("r/<slug:slug>/invites/new/", views.invite_new, name="invite_new"),
    path("r/<slug:slug>/invite-link/", views.invite_link, name="invite_link"),
    path(
        "r/<slug:slug>/invites/<int:invite_id>/revoke/",
        views.invite_revoke,
        name="invite_revoke",
    ),
    path("invite/<str:token>/", views.invite_accept, name="invite_accept"),
]
