from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views.signup_sent, name="signup_sent"),
    path("signup/finish/<str:token>/", views.signup_finish, name="signup_finish"),
    path("profile/", views.profile, name="profile"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    # Before django.contrib.auth.urls, so that its name resolves to ours.
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    # logout, password change and the rest of the password reset flow, with
    # our templates.
    path("", include("django.contrib.auth.urls")),
]
