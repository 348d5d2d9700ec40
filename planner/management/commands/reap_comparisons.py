from django.core.management.base import BaseCommand

from planner.services.comparison_reaper import comparison_reap


class Command(BaseCommand):
    help = (
        "Requeue comparison chunks whose worker died (or fail their job after COMPARISON_MAX_ATTEMPTS), "
        "resend lost messages and finalise jobs whose chunks are all done. Workers also run this "
        "every PLANNER_COMPARISON_REAP_S seconds."
    )

    def handle(self, *args, **options):
        counts = comparison_reap()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
