"""Organizer, team and API token of the pretix side of scripts/pretix-compare.sh.

Run with the benchmark's virtualenv and PRETIX_CONFIG_FILE set, after
`python -m pretix migrate`:

    python scripts/pretix_setup.py ORGANIZER_SLUG   # prints the API token

Only what pretix's REST API cannot create is made here, through pretix's own
models: the organizer (its save() adds the default sales channels), a team
with every permission on every event, and that team's API token. Events,
items and quotas are then made through the REST API by pretix_load.py, so
they go through pretix's own validation like an organizer's would.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pretix.settings")

import django  # noqa: E402

django.setup()

from django_scopes import scopes_disabled  # noqa: E402

from pretix.base.models import Organizer  # noqa: E402


def main() -> None:
    slug = sys.argv[1] if len(sys.argv) > 1 else "bench"
    with scopes_disabled():
        organizer, _ = Organizer.objects.get_or_create(slug=slug, defaults={"name": "Benchmark organizer"})
        team, _ = organizer.teams.get_or_create(
            name="Benchmark API",
            defaults={
                "all_events": True,
                "all_event_permissions": True,
                "all_organizer_permissions": True,
            },
        )
        token = team.tokens.filter(name="pretix-compare", active=True).first()
        if token is None:
            token = team.tokens.create(name="pretix-compare")
        print(token.token)


if __name__ == "__main__":
    main()
