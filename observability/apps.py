from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """Serves the metrics and wires the Celery signals that feed them."""

    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        # The worker wiring reaches the scrape-time collector, which imports models: only
        # once the app registry is ready.
        from observability.workers import worker_signals_connect

        worker_signals_connect()
