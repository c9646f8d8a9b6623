"""Operator commands of the registration service.

    python -m registration.cli bootstrap-organiser --email ada@example.org [--name "Ada Lovelace"] [--output token]

Makes the first organiser: registers the person with the organiser role, or promotes the attendee who already has
that e-mail address. It writes straight to the registration database (MONGODB_URI, MONGODB_DATABASE) through the
same handlers as the API, so the events (AttendeeRegistered or AttendeeUpdated) go into the document's outbox and
the running service's relay publishes them (Kafka is not needed here). It prints the organiser's tokens: JSON with
`attendee_id`, `access_token`, `refresh_token`, `created` by default, or only the access token with
`--output token` (for scripts: `TOKEN=$(python -m registration.cli bootstrap-organiser --email ... --output token)`).
Needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY like the service. Running it again is harmless: it promotes nobody twice
and prints fresh tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from plenary_kit.mongo import open_client
from plenary_kit.problems import ProblemError
from pydantic import ValidationError

from registration import domain
from registration.app import ATTENDEES, make_issuer
from registration.config import Settings
from registration.handlers import Registrations
from registration.repository import AttendeeRepository


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m registration.cli", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    boot = sub.add_parser("bootstrap-organiser", help="create or promote an organiser and print their tokens")
    boot.add_argument("--email", required=True)
    boot.add_argument("--name", help="full name (default: from the e-mail address)")
    boot.add_argument("--country", default="CH", help="ISO 3166-1 alpha-2 code (default CH)")
    boot.add_argument("--gender", default="prefer not to say")
    boot.add_argument("--stakeholder-type", default="international-organization")
    boot.add_argument("--organisation", default="")
    boot.add_argument("--access-ttl", type=int, default=None,
                      help="lifetime of the printed access token in seconds (default: the service's, 900)")
    boot.add_argument("--output", choices=("json", "token"), default="json")
    return ap


async def bootstrap_organiser(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    if args.access_ttl:
        settings = settings.model_copy(update={"access_token_ttl_seconds": args.access_ttl})
    name = args.name or args.email.split("@", 1)[0].replace(".", " ").title()
    cmd = domain.Register(name=name, email=args.email, country=args.country, gender=args.gender,
                          stakeholder_type=args.stakeholder_type, organisation=args.organisation)
    client = open_client(settings.mongodb_uri)
    try:
        repository = AttendeeRepository(client[settings.database_name][ATTENDEES])
        await repository.ensure_indexes()
        registrations = Registrations(repository, make_issuer(settings), settings)
        signed_in, created = await registrations.bootstrap_organiser(cmd)
    finally:
        await client.close()
    return {"attendee_id": signed_in.attendee["id"], "email": signed_in.attendee["email"],
            "roles": signed_in.attendee["roles"], "created": created, "access_token": signed_in.access_token,
            "expires_in": signed_in.expires_in, "refresh_token": signed_in.refresh_token}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()  # from the environment
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]).upper() for e in exc.errors())
        print(f"error: set {missing} in the environment (see the registration service's settings).", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(bootstrap_organiser(args, settings))
    except ValidationError as exc:
        print("error: " + "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()), file=sys.stderr)
        return 2
    except ProblemError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    if args.output == "token":
        print(result["access_token"])
    else:
        print(json.dumps(result, indent=2))
    what = "created organiser" if result["created"] else "existing attendee is an organiser:"
    print(f"{what} {result['email']} ({result['attendee_id']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
