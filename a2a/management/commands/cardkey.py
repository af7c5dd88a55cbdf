"""``manage.py cardkey create|public|remove``: the keys that sign webcap's agent card."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2a.signing import SigningConfigError, signing_keys
from common.jws import (
    GENERATED,
    Key,
    KeySetError,
    key_generate,
    key_set_document,
    key_set_load,
    public_jwks,
)


class Command(BaseCommand):
    help = (
        "Create a card signing key (a JWK set with the private key), print the public keys of "
        "the configured set, or remove a retired key from a key set file. See "
        "docs/card-signing.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser(
            "create",
            help="Make a new key. Without --output or --add-to, print the JWK set (it holds "
            "the private key) on stdout.",
        )
        create.add_argument("--alg", choices=GENERATED, default="ES256", help="Default ES256.")
        create.add_argument("--kid", help="The key's id. Default: card-YYYYMMDD-xxxx.")
        where = create.add_mutually_exclusive_group()
        where.add_argument(
            "--output", help="Write a new key set file (mode 600); never overwrites one."
        )
        where.add_argument(
            "--add-to", help="Add the key to this key set file (rotation); it does not sign yet."
        )
        sub.add_parser("public", help="Print the public JWK set of the configured keys.")
        remove = sub.add_parser("remove", help="Remove a retired key from a key set file.")
        remove.add_argument("kid")
        remove.add_argument("--from", dest="path", required=True, help="The key set file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(**options)
        except (KeySetError, SigningConfigError) as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, **options: Any) -> None:
        kid = options["kid"] or (f"card-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}")
        key = key_generate(options["alg"], kid=kid)
        if options["add_to"]:
            path = Path(options["add_to"])
            keys = _load(path)
            if any(existing.kid == kid for existing in keys):
                raise CommandError(f"{path} already has a key {kid!r}.")
            _write(path, [*keys, key], replace=True)
            # With several keys the active one must be named: until the switch, the old one.
            keep = ", ".join(str(existing.kid) for existing in keys)
            self.stderr.write(
                f"Added key {kid!r} ({options['alg']}) to {path}. Keep "
                f"WEBCAP_CARD_SIGNING_KEY_ID at the key that signs now ({keep}) and restart "
                "webcap so it publishes the new key; once verifiers may have fetched it (the "
                "key set is cached up to 5 minutes), make it sign:"
            )
            self.stdout.write(f"WEBCAP_CARD_SIGNING_KEY_ID={kid}")
            return
        if options["output"]:
            path = Path(options["output"])
            _write(path, [key], replace=False)
            self.stderr.write(f"Wrote key {kid!r} ({options['alg']}) to {path}. Configure:")
            self.stdout.write(f"WEBCAP_CARD_SIGNING_KEYS={path}")
            self.stdout.write(f"WEBCAP_CARD_SIGNING_KEY_ID={kid}")
            return
        self.stderr.write(
            f"A JWK set with the new private key {kid!r} ({options['alg']}); keep it secret:"
        )
        self.stdout.write(json.dumps(key_set_document([key])))

    def _public(self, **options: Any) -> None:
        keys = signing_keys()
        if keys is None:
            raise CommandError("WEBCAP_CARD_SIGNING_KEYS is not set: the card is not signed.")
        self.stdout.write(json.dumps(public_jwks(keys.keys), indent=2))

    def _remove(self, **options: Any) -> None:
        path, kid = Path(options["path"]), options["kid"]
        keys = _load(path)
        kept = [key for key in keys if key.kid != kid]
        if len(kept) == len(keys):
            raise CommandError(f"{path} has no key {kid!r}.")
        if not kept:
            raise CommandError(f"{kid!r} is the only key of {path}: a key set needs one.")
        configured = signing_keys()
        if configured is not None and configured.active.kid == kid:
            raise CommandError(
                f"{kid!r} is the active key (WEBCAP_CARD_SIGNING_KEY_ID): switch to another "
                "key first."
            )
        _write(path, kept, replace=True)
        self.stderr.write(f"Removed key {kid!r} from {path}; restart webcap to stop publishing it.")


def _load(path: Path) -> list[Key]:
    try:
        return key_set_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc


def _write(path: Path, keys: list[Key], *, replace: bool) -> None:
    """Write the key set readable by its owner alone, atomically (a new file, then a rename)."""
    if path.exists() and not replace:
        raise CommandError(f"{path} exists; use --add-to to add a key to it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(key_set_document(keys), file, indent=2)
        file.write("\n")
    os.replace(temporary, path)
