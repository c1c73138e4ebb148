"""Flask commands: demo data, users and the job worker."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.services import accounts, demo
from webapp.services.errors import PolicyError

demo_cli = AppGroup("demo", help="Demo district for trying Keyslip out.")
users_cli = AppGroup("users", help="Manage user accounts.")
jobs_cli = AppGroup("jobs", help="Background jobs.")


@demo_cli.command("seed")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same district).")
def demo_seed(seed: int | None) -> None:
    """Create the demo district, unless the database already holds a school."""
    if demo.demo_exists():
        click.echo("The database already holds schools; demo data not added.")
        return
    counts = demo.seed_demo(seed if seed is not None else current_app.config["DEMO_SEED"])
    db.session.commit()
    click.echo("Demo district created: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@demo_cli.command("sign-ins")
def demo_sign_ins() -> None:
    """Print the demo sign-ins."""
    base = current_app.config["BASE_URL"]
    click.echo(f"\n  Keyslip is running at {base}\n")
    click.echo(f"  Demo sign-ins (password for all: {demo.DEMO_PASSWORD}):")
    for entry in demo.DEMO_SIGN_INS:
        click.echo(f"    {entry.username:<14} {entry.note}")
    if current_app.config["ENVIRONMENT"] == "development" and not current_app.config["MAIL_SERVER"]:
        click.echo(f"\n  Messages Keyslip sends appear at {base}/dev/outbox")
    click.echo("")


@users_cli.command("create-admin")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password", default=None, help="Prompted for when left out.")
@click.option("--school-limited", is_flag=True, help="Not district-wide (add schools later).")
def create_admin(username: str, email: str, password: str | None, school_limited: bool) -> None:
    """Create an administrator account for a real deployment."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_admin(username, email, password, district_wide=not school_limited)
    except PolicyError as exc:
        db.session.rollback()
        raise click.ClickException(" ".join(exc.problems)) from exc
    db.session.commit()
    click.echo(f"Admin {user.username} created.")


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def jobs_worker(burst: bool) -> None:
    """Run an RQ worker for this app's queue (production)."""
    from redis import Redis
    from rq import Queue, Worker

    from webapp.jobs import worker

    url = current_app.config["REDIS_URL"]
    if not url:
        raise click.ClickException("Set FLASK_REDIS_URL to run a worker.")
    worker.use_app(current_app._get_current_object())
    connection = Redis.from_url(url)
    queue = Queue(current_app.config["JOBS_QUEUE"], connection=connection)
    Worker([queue], connection=connection).work(burst=burst)


def register(app: Flask) -> None:
    from webapp.cli_schools import schools_cli
    from webapp.delivery.cli import credentials_cli
    from webapp.housekeeping import housekeeping_cli
    from webapp.imports.cli import roster_cli
    from webapp.printing.cli import badges_cli  # also adds `credentials print`

    for group in (
        demo_cli,
        users_cli,
        jobs_cli,
        roster_cli,
        schools_cli,
        credentials_cli,
        housekeeping_cli,
        badges_cli,
    ):
        app.cli.add_command(group)
