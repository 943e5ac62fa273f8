"""Command groups by topic: `flask users ...`, `flask keys ...` (SPEC §7)."""

from __future__ import annotations

import secrets as pysecrets
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from maestro_web.auth.emails import InvalidEmail, check_email
from maestro_web.config import (
    SECRET_SPECS,
    SECRET_SPECS_BY_CONTEXT,
    _generated_secrets,
    _store_generated_secrets,
    weakness,
)
from maestro_web.extensions import db
from maestro_web.limits import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from maestro_web.models import Report, ShareLink, User
from maestro_web.models.base import utcnow

users_cli = AppGroup("users", help="Manage accounts.")
keys_cli = AppGroup("keys", help="Manage the secrets of the token contexts.")
analytics_cli = AppGroup("analytics", help="The reference analytics worker.")
shares_cli = AppGroup("shares", help="Manage public share links.")
graphs_cli = AppGroup("graphs", help="Manage graphs.")
discovery_cli = AppGroup("discovery", help="The discovery service and its schedule (SPEC §11).")
reports_cli = AppGroup("reports", help="The report service and old reports (SPEC §12).")


def prune_command(group: AppGroup, prune: Callable[[datetime], int], *, doc: str, option_help: str, done: str) -> None:
    """`flask <group> prune [--older-than DAYS]`: `prune(cutoff)` deletes the rows that ended before the
    cutoff and says how many; `done` names them in the answer ("Deleted 3 <done> before …")."""

    @group.command("prune", help=doc)
    @click.option("--older-than", "days", default=30, show_default=True, type=click.IntRange(min=0), help=option_help)
    def command(days: int) -> None:
        cutoff = utcnow() - timedelta(days=days)
        deleted = prune(cutoff)
        db.session.commit()
        click.echo(f"Deleted {deleted} {done} before {cutoff:%Y-%m-%d %H:%M} UTC.")


prune_command(
    shares_cli,
    ShareLink.prune,
    doc="Delete old expired and revoked share links (their tokens are dead already).",
    option_help="Delete links that expired or were revoked more than this many days ago.",
    done="share link(s) that ended",
)
prune_command(
    reports_cli,
    Report.prune,
    doc="Delete old reports and their files.",
    option_help="Delete reports made more than this many days ago.",
    done="report(s) made",
)


@users_cli.command("create")
@click.argument("email")
@click.option("--name", default=None, help="Display name (defaults to the part before @).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, name: str | None, password_stdin: bool) -> None:
    """Create an account."""
    try:
        email = check_email(email)  # the forms' rule: every account can log in and reset
    except InvalidEmail as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    if User.get_by_email(email):
        raise click.ClickException(f"an account with the e-mail {email} already exists")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise click.ClickException(f"the password must have {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters")
    user = User.create(email, name or email.split("@", 1)[0], password)
    db.session.commit()
    click.echo(f"Created user {user.email} ({user.public_id}).")


@users_cli.command("prune-sessions")
@click.option(
    "--older-than",
    "days",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Delete what ended or expired more than this many days ago.",
)
def prune_sessions(days: int) -> None:
    """Delete old login sessions, e-mail change links and blocklisted tokens (all of them dead already)."""
    from maestro_web.models.user import prune_account_rows

    cutoff = utcnow() - timedelta(days=days)
    counts = prune_account_rows(cutoff)
    db.session.commit()
    click.echo(
        f"Deleted {counts['sessions']} login session(s), {counts['email_changes']} e-mail change link(s) and "
        f"{counts['revoked_tokens']} revoked token(s) that ended before {cutoff:%Y-%m-%d %H:%M} UTC."
    )


def new_secret() -> str:
    """A fresh secret: 48 random bytes, URL-safe base64 (64 characters), never a weak one."""
    while True:
        value = pysecrets.token_urlsafe(48)
        if weakness(value) is None:  # a random value never fails, but the rules are the promise
            return value


@click.command("generate")
@click.argument("contexts", nargs=-1, type=click.Choice(sorted(SECRET_SPECS_BY_CONTEXT)))
def generate_keys(contexts: tuple[str, ...]) -> None:
    """Print a new secret for each CONTEXT (default: all seven), as NAME=value lines.

    Writes nothing and needs no configuration (it works when a bad secret stops the app), so the
    lines can go straight into maestro.env or a secret store. Each value is different.
    """
    specs = [SECRET_SPECS_BY_CONTEXT[context] for context in dict.fromkeys(contexts)] or list(SECRET_SPECS)
    for spec in specs:
        click.echo(f"{spec.env}={new_secret()}")


keys_cli.add_command(generate_keys)


@keys_cli.command("rotate")
@click.argument("context", type=click.Choice(sorted(SECRET_SPECS_BY_CONTEXT)))
def rotate_key(context: str) -> None:
    """Give CONTEXT a new secret; the old one keeps verifying (as a _PREVIOUS value).

    In development, a secret the app generated is rotated in place: the instance folder's secrets
    file gets the new value and keeps the old one in <NAME>_PREVIOUS (mode 0600 kept), and the
    app uses both after a restart. Otherwise (production, or a secret set in the environment) the
    command writes nothing and prints the exact variables to set.
    """
    spec = SECRET_SPECS_BY_CONTEXT[context]
    ring = current_app.config["KEY_RINGS"][context]
    fresh = new_secret()
    previous = list(dict.fromkeys((ring.current, *ring.previous)))
    instance = Path(current_app.instance_path)
    generated = _generated_secrets(instance)
    if current_app.config["MAESTRO_ENV"] == "development" and generated.get(spec.env) == ring.current:
        old_file = [part for part in generated.get(f"{spec.env}_PREVIOUS", "").split(",") if part]
        generated[spec.env] = fresh
        generated[f"{spec.env}_PREVIOUS"] = ",".join(dict.fromkeys((ring.current, *old_file)))
        path = _store_generated_secrets(instance, generated)
        click.echo(f"Rotated {spec.env} in {path}: a new secret signs from now on, the old one still verifies.")
        click.echo("Restart the app (and every worker) to use it.")
        return
    where = "production" if current_app.config["MAESTRO_ENV"] == "production" else "the environment"
    click.echo(f"# {spec.env} comes from {where}; nothing was written. On every app process set:")
    click.echo(f"{spec.env}={fresh}")
    click.echo(f"{spec.env}_PREVIOUS={','.join(previous)}")
    click.echo(
        f"# then restart. Tokens signed with the old key keep verifying until you drop it from "
        f"{spec.env}_PREVIOUS; then all of them stop at once."
    )


@analytics_cli.command("worker")
@click.option("--url", default=None, help="Base URL of the analytics front (default: MAESTRO_ANALYTICS_URL).")
@click.option("--once", is_flag=True, help="Process at most one job, then exit.")
@click.option("--until-idle", is_flag=True, help="Exit when no job is waiting.")
@click.option("--poll-interval", default=2.0, show_default=True, help="Seconds to wait when idle.")
@click.option("--retries", default=5, show_default=True, help="Retries of a failing request (with backoff).")
@click.option(
    "--live-publish-url",
    default=None,
    help="Live server's publish endpoint for run.claimed / run.progress (default: MAESTRO_LIVE_PUBLISH_URL).",
)
@click.option("--no-live", is_flag=True, help="Publish no live events.")
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0),
    default=None,
    help="Serve Prometheus metrics on this port at /metrics (default: MAESTRO_WORKER_METRICS_PORT; 0: none).",
)
@click.option(
    "--metrics-host", default=None, help="Address of the metrics port (default: MAESTRO_WORKER_METRICS_HOST)."
)
def analytics_worker(
    url: str | None,
    once: bool,
    until_idle: bool,
    poll_interval: float,
    retries: int,
    live_publish_url: str | None,
    no_live: bool,
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Claim graphs over HTTP, analyse and draw them, post the results."""
    from maestro_web.channels import GRAPH_PREFIX
    from maestro_web.live_publish import LivePublisher
    from maestro_web.security import socket_tokens, worker_tokens
    from maestro_web.worker.client import FrontClient, FrontUnavailable
    from maestro_web.worker.runner import run_worker

    base = url or current_app.config["MAESTRO_ANALYTICS_URL"]
    client = FrontClient(base, current_app.config["KEY_RINGS"][worker_tokens.CONTEXT], retries=retries)
    events = None
    if not no_live:
        # The worker's own socket token (issuer maestro-analytics), allowed to post on graph channels only.
        socket_ring = current_app.config["KEY_RINGS"][socket_tokens.CONTEXT]
        events = LivePublisher(
            live_publish_url or current_app.config["MAESTRO_LIVE_PUBLISH_URL"],
            lambda: socket_tokens.issue_socket_token(
                socket_ring, issuer="maestro-analytics", channels=[GRAPH_PREFIX], ttl=120
            ),
        )
    config = current_app.config
    port = config["MAESTRO_WORKER_METRICS_PORT"] if metrics_port is None else metrics_port
    metrics_server = None
    if port:
        from maestro_web.metrics import MetricsAccess, exposition, serve_metrics
        from maestro_web.metrics import worker as worker_metrics

        access = MetricsAccess(tuple(config["MAESTRO_METRICS_ALLOW"]), config["MAESTRO_METRICS_TOKEN"])
        try:
            metrics_server = serve_metrics(
                lambda: exposition(worker_metrics.REGISTRY),
                access,
                metrics_host or config["MAESTRO_WORKER_METRICS_HOST"],
                port,
            )
        except OSError as exc:
            raise click.ClickException(f"cannot serve metrics on port {port}: {exc.strerror}") from None
    click.echo(f"Analytics worker polling {base}", err=True)
    try:
        stats = run_worker(client, once=once, until_idle=until_idle, poll_interval=poll_interval, events=events)
    except FrontUnavailable as exc:
        raise click.ClickException(f"analytics front unavailable: {exc}") from None
    except KeyboardInterrupt:
        return
    finally:
        if events is not None:
            events.flush(timeout=3.0)
        if metrics_server is not None:
            metrics_server.shutdown()
    click.echo(f"done: {stats.done} (errors reported: {stats.failed}), stale: {stats.stale}", err=True)


@graphs_cli.command("purge")
@click.option(
    "--older-than",
    "days",
    default=None,
    type=click.IntRange(min=0),
    help="Remove graphs deleted more than this many days ago [default: MAESTRO_TRASH_DAYS, 7].",
)
def purge_graphs(days: int | None) -> None:
    """Remove for good the graphs that have been in the Trash longer than MAESTRO_TRASH_DAYS."""
    from maestro_web.graphs.trash import purge, trash_cutoff

    cutoff = trash_cutoff() if days is None else utcnow() - timedelta(days=days)
    purged = purge(cutoff)
    db.session.commit()
    click.echo(f"Removed {purged} graph(s) deleted before {cutoff:%Y-%m-%d %H:%M} UTC.")


@discovery_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5002, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--no-live", is_flag=True, help="Publish no progress events.")
def discovery_serve(host: str, port: int, no_live: bool) -> None:
    """Serve crawl commands until Ctrl-C (a lean process: no Flask, no database)."""
    from maestro_web.discovery.settings import DiscoverySettings, SettingsError

    try:
        settings = DiscoverySettings.from_config(current_app.config)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    # Settings are read once here, from the app's config; then this process becomes the service.
    settings.exec_service(host, port, live=not no_live)


@discovery_cli.command("schedule")
@click.option("--once", is_flag=True, help="Send the commands that are due now, then exit.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between two rounds.")
def discovery_schedule(once: bool, interval: float) -> None:
    """Send the crawl commands of scheduled sources when they are due."""
    from maestro_web.sources.schedule import send_due_crawls

    def one_round() -> str | None:
        outcome = send_due_crawls(current_app.config)
        if once or outcome.sent or outcome.failed or outcome.stopped or outcome.swept:
            return (
                f"sent: {outcome.sent}, busy: {outcome.busy}, failed: {outcome.failed}, "
                f"stopped: {outcome.stopped}, swept: {outcome.swept}"
            )
        return None

    _rounds(one_round, once, interval)


def _rounds(one_round: Callable[[], str | None], once: bool, interval: float) -> None:
    """Run `one_round` (its words, if any, to stderr) once, or every `interval` seconds until Ctrl-C."""
    import time

    while True:
        said = one_round()
        db.session.remove()
        if said:
            click.echo(said, err=True)
        if once:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


@reports_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5003, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--no-live", is_flag=True, help="Publish no progress events.")
def reports_serve(host: str, port: int, no_live: bool) -> None:
    """Serve report commands until Ctrl-C (a lean process: no Flask, no database)."""
    from maestro_web.reports.settings import ReportSettings

    # Settings are read once here, from the app's config; then this process becomes the service.
    ReportSettings.from_config(current_app.config).exec_service(host, port, live=not no_live)


@reports_cli.command("weekly")
@click.option("--once", is_flag=True, help="Ask for the reports that are due now, then exit.")
@click.option("--interval", default=3600.0, show_default=True, help="Seconds between two rounds.")
def reports_weekly(once: bool, interval: float) -> None:
    """Ask for the weekly PDF of every graph that changed this week and has readers to mail it to."""
    from maestro_web.domain.weekly_reports import send_weekly_reports

    def one_round() -> str | None:
        outcome = send_weekly_reports(current_app.config)
        db.session.commit()
        if once or outcome.started or outcome.failed:
            return f"started: {outcome.started}, unchanged: {outcome.unchanged}, failed: {outcome.failed}"
        return None

    _rounds(one_round, once, interval)


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(shares_cli)
    app.cli.add_command(graphs_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(analytics_cli)
    app.cli.add_command(discovery_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(backup_cli)
    from maestro_web.live_server.cli import live_cli  # the live server (SPEC §8); aiohttp loads only when it runs

    app.cli.add_command(live_cli)


backup_cli = AppGroup("backup", help="Back up and restore the database and the secrets (docs/operations.md).")


@backup_cli.command("create")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def backup_create(path: Path) -> None:
    """Write a backup into PATH (a new directory): the database and, in development, the secrets."""
    from maestro_web.backup import BackupError, create

    try:
        manifest = create(db.engine, current_app.config, current_app.instance_path, path)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Backed up the {manifest['engine']} database (revision {manifest['alembic_revision']}) "
        f"into {path}; secrets: {manifest['secrets']}."
    )


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
def backup_restore(path: Path, force: bool) -> None:
    """Load the backup in PATH into the configured (empty) database; restart every process afterwards."""
    from maestro_web.backup import BackupError, restore

    try:
        manifest = restore(db.engine, current_app.instance_path, path, force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    db.engine.dispose()
    click.echo(
        f"Restored the backup of {manifest['created_at']} into the database; secrets: {manifest['secrets']}. "
        "Restart every process."
    )
