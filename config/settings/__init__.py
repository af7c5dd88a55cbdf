"""Settings entry point: everything comes from the environment (see base.py)."""

from config.settings.base import *  # noqa: F403
