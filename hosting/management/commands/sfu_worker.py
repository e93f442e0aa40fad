import asyncio
import contextlib
import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the SFU in its own process, serving the daphne processes through the "
        "channel layer (set SFU_MODE=worker and REDIS_URL for both)."
    )

    def handle(self, *args, **options) -> None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_until_stopped())


async def _serve_until_stopped() -> None:
    """Serve until SIGTERM (or Ctrl+C), then close the SFU's connections
    properly: browsers learn at once that media ended."""
    from hosting.worker import run_worker

    serving = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, serving.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await run_worker()
