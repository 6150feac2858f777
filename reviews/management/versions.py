"""What the commands that go over the registered versions share (push_versions, seal_versions,
export_onnx): every version in the order it was registered; one that fails is reported and the
rest still done; the command fails at the end when any did."""

from __future__ import annotations

from typing import Callable

from django.core.management.base import BaseCommand, CommandError

from modeling import registry


def over_versions(command: BaseCommand, rows, act: Callable[[object], str | None], *, not_done: str, failure: str) -> None:
    """`act(version)` does a version's work and returns the line to print for it (None: nothing to
    say). A RegistryError is printed as "<id>: <not_done>: <error>"; after the last version,
    CommandError("<n> version(s) <failure>") when any failed."""
    failed = 0
    for version in rows.order_by("created_at"):
        try:
            said = act(version)
        except registry.RegistryError as exc:
            failed += 1
            command.stderr.write(f"{version.id}: {not_done}: {exc}")
            continue
        if said:
            command.stdout.write(f"{version.id}: {said}")
    if failed:
        raise CommandError(f"{failed} version(s) {failure}")
