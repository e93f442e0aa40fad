import asyncio
import contextlib

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the SFU in its own process, serving the daphne processes through the "
        "channel layer (set SFU_MODE=worker and REDIS_URL for both)."
    )

    def handle(self, *args, **options) -> None:
        from config.sfu_hosting import run_worker

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_worker())
