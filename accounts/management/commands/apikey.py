"""``manage.py apikey create|list|revoke``: manage API keys from the shell."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey
from accounts.roles import ROLES
from accounts.services import api_key_create, api_key_revoke, user_ensure
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "Create, list or revoke API keys. 'create' prints the new key as its last line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key for USERNAME.")
        create.add_argument("username")
        create.add_argument(
            "--create-user", action="store_true", help="Create the user if it does not exist."
        )
        create.add_argument("--role", choices=ROLES, help="Add the user to this role.")
        create.add_argument("--name", default="cli", help="A name to tell the key apart.")
        create.add_argument("--expires-days", type=int, help="Expire the key after N days.")
        listing = sub.add_parser("list", help="List the keys of USERNAME.")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke the key whose id or prefix is given.")
        revoke.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _create(self, **options: Any) -> None:
        user = user_ensure(
            username=options["username"], role=options["role"], create=options["create_user"]
        )
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        api_key, key = api_key_create(user=user, name=options["name"], expires_at=expires_at)
        self.stderr.write(
            f"Created API key {api_key.id} ({api_key.name}) for {user.username}. "
            "It is shown only now:"
        )
        self.stdout.write(key)

    def _list(self, **options: Any) -> None:
        for api_key in ApiKey.objects.filter(user__username=options["username"]).order_by(
            "-created_at"
        ):
            state = "usable" if api_key.is_usable() else "revoked/expired"
            self.stdout.write(f"{api_key.id}  {api_key.prefix}…  {api_key.name}  {state}")

    def _revoke(self, **options: Any) -> None:
        key_id = options["key_id"]
        lookup = Q(prefix=key_id)
        with contextlib.suppress(ValueError):
            lookup |= Q(id=uuid.UUID(key_id))
        matches = list(ApiKey.objects.filter(lookup)[:2])
        if len(matches) != 1:
            raise CommandError(f"No single key matches {key_id!r}.")
        api_key_revoke(api_key=matches[0])
        self.stdout.write(f"Revoked {matches[0].id}.")
