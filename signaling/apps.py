from django.apps import AppConfig


class SignalingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "signaling"

    def ready(self) -> None:
        from signaling.sessions import connect_signals

        connect_signals()
