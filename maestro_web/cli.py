"""Command groups by topic: `flask users ...`, `flask keys ...` (SPEC §7)."""
from __future__ import annotations

import secrets as pysecrets
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from maestro_web.config import SECRET_SPECS_BY_CONTEXT
from maestro_web.extensions import db
from maestro_web.models import User
from maestro_web.models.user import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

users_cli = AppGroup("users", help="Manage accounts.")
keys_cli = AppGroup("keys", help="Manage the secrets of the token contexts.")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", default=None, help="Display name (defaults to the part before @).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, name: str | None, password_stdin: bool) -> None:
    """Create an account."""
    if "@" not in email or len(email) > 254:
        raise click.BadParameter("not an e-mail address", param_hint="EMAIL")
    if User.get_by_email(email):
        raise click.ClickException(f"an account with the e-mail {email.lower()} already exists")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise click.ClickException(
            f"the password must have {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
        )
    user = User.create(email, name or email.split("@", 1)[0], password)
    db.session.commit()
    click.echo(f"Created user {user.email} ({user.public_id}).")


@keys_cli.command("rotate")
@click.argument("context", type=click.Choice(sorted(SECRET_SPECS_BY_CONTEXT)))
def rotate_key(context: str) -> None:
    """Print a new secret for CONTEXT and how to keep the old one for verification."""
    spec = SECRET_SPECS_BY_CONTEXT[context]
    ring = current_app.config["KEY_RINGS"][context]
    new_secret = pysecrets.token_urlsafe(48)
    previous = ",".join(["<the current value>", *(["<the values already there>"] if ring.previous else [])])
    click.echo(new_secret)
    click.echo(
        f"\nTo rotate without downtime, on every app process set:\n"
        f"  {spec.env}={new_secret}\n"
        f"  {spec.env}_PREVIOUS={previous}\n"
        f"and restart. Tokens signed with the old key keep verifying until you drop it from "
        f"{spec.env}_PREVIOUS; then all of them stop at once.",
        err=True,
    )


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
