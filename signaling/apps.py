from django.apps import AppConfig


class SignalingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "signaling"

    def ready(self) -> None:
        from meetings import events
        from signaling.effects import on_event
        from signaling.sessions import connect_signals

        connect_signals()
        # Every change to a room, from anywhere, reaches its live meeting.
        events.subscribe(on_event)
