"""``attribution db``, ``keys``, ``config`` and ``serve``: the database, API keys, settings and the API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from attribution.cli.common import canonical_period, console, current_settings, session_factory
from attribution.timeutil import iso

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
config_app = typer.Typer(
    no_args_is_help=True, help="The settings: the generated reference, the GPU prices in effect."
)
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the reporting API: create, list, revoke.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from attribution.store.migrate import upgrade

    settings = current_settings()
    upgrade(settings.database_url)
    console().print("database is at the latest revision")


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str], typer.Option(help="admin, finance, billing or tenant:<id>; repeat for several")
    ],
    name: Annotated[str, typer.Option(help="who or what the key is for")] = "",
) -> None:
    """Create an API key and print it once: only its SHA-256 is stored, it cannot be shown again."""
    from attribution.store.apikeys import create_key
    from attribution.store.session import unit_of_work

    with unit_of_work(session_factory(current_settings())) as session:
        key = create_key(session, scope, name)
    console().print(f"key id {key.key_id}, scopes {', '.join(key.scopes)}; the key (shown once):")
    sys.stdout.write(key.token + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, scopes, created and revoked times (never the secret)."""
    from attribution.collectors.cli import columns
    from attribution.store.apikeys import list_keys, scopes_of

    with session_factory(current_settings())() as session:
        rows = [
            [
                k.key_id,
                # a non-ASCII scope is shown escaped: a Cyrillic a (U+0430) must not list like a Latin one
                ", ".join(s if s.isascii() else ascii(s) for s in scopes_of(k)),
                iso(k.created_at),
                f"revoked {iso(k.revoked_at)}" if k.revoked_at else "active",
                k.name or "-",
            ]
            for k in list_keys(session)
        ]
    typer.echo(columns(["key_id", "scopes", "created_at", "status", "name"], rows))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id from keys list")]) -> None:
    """Revoke a key: every request with it is refused (401) from now on."""
    from attribution.store.apikeys import revoke_key
    from attribution.store.session import unit_of_work

    with unit_of_work(session_factory(current_settings())) as session:
        row = revoke_key(session, key_id)
        console().print(f"revoked {row.key_id} at {iso(row.revoked_at) if row.revoked_at else ''}")


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="server processes; each keeps its own answer cache and rate limiter (docs/performance.md)",
        ),
    ] = 1,
) -> None:
    """Serve the reporting API (uvicorn; uvloop and httptools, its fastest loop and parser, if installed)."""
    import uvicorn

    from attribution.api.app import create_app

    settings = current_settings()  # a bad setting is one line here, before any worker starts
    # log_config=None: uvicorn's loggers propagate to the root handler set up above (text or JSON)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
        return
    # several processes need the app by name: each builds it from the same environment and config file
    uvicorn.run(
        "attribution.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


@config_app.command("docs")
def config_docs(
    out: Annotated[Path | None, typer.Option(help="write here (docs/configuration-reference.md)")] = None,
) -> None:
    """Print (or write) the configuration reference generated from the settings models."""
    from attribution.config.docs import generate

    text = generate()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console().print(f"wrote {out}")


@config_app.command("show")
def config_show(
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: this month)", callback=canonical_period)
    ] = None,
) -> None:
    """Print, as JSON, each inventory GPU type's prices in effect in a month: the basis (on-demand,
    reserved, spot or derived), a derived price's capex, power and colocation per GPU-hour and per month,
    and what the inventory's GPUs of the type cost that month. Secrets and URLs are never printed."""
    import json
    from datetime import UTC, datetime

    from attribution.reports.price_basis import price_basis

    settings = current_settings()
    month = period or datetime.now(UTC).strftime("%Y-%m")
    body = {"period": month, "price_basis": [b.to_dict() for b in price_basis(settings, month)]}
    sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
