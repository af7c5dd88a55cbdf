"""``manage.py tool``: tool packages: write a new one, list the installed ones, enable them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import ApplicationError
from tools.packages import PACKAGE_ERRORS, tool_packages, tool_packages_enabled
from tools.services import tool_package_enable
from tools.skeleton import SkeletonError, skeleton_write


class Command(BaseCommand):
    help = "Write a new tool package (new), list installed ones (list), enable or disable one."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        new = actions.add_parser("new", help="Write a working, tested tool package skeleton.")
        new.add_argument("name", help="lowercase module name, e.g. weather")
        new.add_argument("--dir", default=".", help="where the NAME directory is made")
        actions.add_parser("list", help="Installed tool packages, their tools and state.")
        for action in ("enable", "disable"):
            one = actions.add_parser(action, help=f"{action.capitalize()} a package's tools.")
            one.add_argument("package", help="distribution name, e.g. webcap-weather")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "new":
            try:
                root = skeleton_write(name=options["name"], parent=Path(options["dir"]))
            except SkeletonError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Wrote the tool package webcap-{options['name']} in {root}")
        elif action == "list":
            enabled = tool_packages_enabled()
            for package, names in tool_packages().items():
                state = "enabled" if package in enabled else "disabled"
                self.stdout.write(f"{package} ({state}): {', '.join(names)}")
            for package, error in sorted(PACKAGE_ERRORS.items()):
                self.stdout.write(f"{package} (not loaded): {error}")
        else:
            try:
                names = tool_package_enable(package=options["package"], enabled=action == "enable")
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            state = "offered" if action == "enable" else "no longer offered"
            self.stdout.write(f"{options['package']}: {', '.join(names)} {state}")
