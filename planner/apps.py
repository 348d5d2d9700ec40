from django.apps import AppConfig


class PlannerConfig(AppConfig):
    name = "planner"
    verbose_name = "LLM inference planner"

    def ready(self) -> None:
        # Connects the Celery worker signals that run the liveness heartbeat.
        from planner import heartbeat  # noqa: F401
