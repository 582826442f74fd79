"""``voxloop dispatch``: people, their tokens, queue statistics and the audit trail. Commands
use the local stack's dispatch service and admin token unless given ``--server/--token``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from services.dispatch import render
from services.dispatch.connection import (
    DEFAULT_HOME,
    AdminServer,
    AdminToken,
    Home,
    admin_connection,
    connected,
    err,
    fail,
    out,
)

dispatch_app = typer.Typer(help="People, tokens, queue statistics and audit trail.", no_args_is_help=True)
user_app = typer.Typer(help="Linguists and their roles, languages and domains.", no_args_is_help=True)
token_app = typer.Typer(help="Linguists' API tokens.", no_args_is_help=True)
dispatch_app.add_typer(user_app, name="user")
dispatch_app.add_typer(token_app, name="token")


@user_app.command("add")
def user_add(
    subject: str,
    role: Annotated[list[str], typer.Option(help="annotator, reviewer, senior, qa_lead or admin; repeat.")],
    language: Annotated[list[str], typer.Option(help='"en", a dialect "fr-CA", or "*"; repeat.')],
    domain: Annotated[list[str] | None, typer.Option(help='Domain skill, e.g. "medical"; repeat.')] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    server: AdminServer = "",
    token: AdminToken = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Create or replace a person (this also re-enables a disabled one)."""
    with connected(admin_connection(server, token, home)) as client:
        user = client.upsert_user(subject, role, language, domain or [], name)
    out.print(Text("saved ") + render.user_line(user))


@user_app.command("list")
def user_list(server: AdminServer = "", token: AdminToken = "", home: Home = DEFAULT_HOME) -> None:
    """Everyone known to dispatch."""
    with connected(admin_connection(server, token, home)) as client:
        out.print(render.users_table(client.users()))


@user_app.command("disable")
def user_disable(
    subject: str, server: AdminServer = "", token: AdminToken = "", home: Home = DEFAULT_HOME
) -> None:
    """Disable a person: their tokens stop working; `user add` enables them again."""
    with connected(admin_connection(server, token, home)) as client:
        user = next((u for u in client.users() if u.subject == subject), None)
        if user is None:
            fail(f"no user {subject!r}")
        saved = client.upsert_user(
            subject, user.roles, user.languages, user.domains, user.display_name, active=False
        )
    out.print(Text("disabled ") + render.user_line(saved))


@token_app.command("issue")
def token_issue(
    subject: str,
    ttl_days: Annotated[int, typer.Option(min=0, help="Days until it expires; 0: never.")] = 0,
    label: Annotated[str, typer.Option(help="What it is for, e.g. the laptop it lives on.")] = "",
    server: AdminServer = "",
    token: AdminToken = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Issue a token for a person; it is printed once and only its hash is stored."""
    with connected(admin_connection(server, token, home)) as client:
        issued = client.issue_token(subject, ttl_days, label)
    expires = render.clock(issued.expires_at) if issued.expires_at.seconds else "never"
    out.print(f"token {issued.token_id} for {issued.subject} (expires: {expires}):")
    out.print(Text(issued.token, style="bold"))
    err.print(Text("copy it now: it will not be shown again", style="yellow"))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Option("--id", help="One token, by the id `token issue` printed.")] = "",
    subject: Annotated[str, typer.Option(help="Every token of this person.")] = "",
    server: AdminServer = "",
    token: AdminToken = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Revoke one token, or every token of a person."""
    if bool(token_id) == bool(subject):
        raise typer.BadParameter("give exactly one of --id or --subject")
    with connected(admin_connection(server, token, home)) as client:
        revoked = client.revoke(token_id, subject)
    out.print(f"revoked {revoked} token{'s' if revoked != 1 else ''}")


@dispatch_app.command()
def stats(server: AdminServer = "", token: AdminToken = "", home: Home = DEFAULT_HOME) -> None:
    """Tasks by state, language, kind and open tier; overdue and oldest open task."""
    with connected(admin_connection(server, token, home)) as client:
        out.print(render.stats_view(client.stats()))


@dispatch_app.command()
def audit(
    task: Annotated[str, typer.Option(help="Only this task.")] = "",
    actor: Annotated[str, typer.Option(help="Only this person.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    server: AdminServer = "",
    token: AdminToken = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Who did what to which task, refusals included, newest first."""
    with connected(admin_connection(server, token, home)) as client:
        out.print(render.audit_table(client.audit_trail(task, actor, limit)))
