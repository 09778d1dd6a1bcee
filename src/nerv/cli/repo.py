"""nerv repo ... (repositories of a project)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fmt_time, json_option, sid, table, visible


@click.group()
def repo() -> None:
    """Repositories that belong to a project."""


@repo.command("add")
@click.argument("path", type=click.Path(file_okay=False))
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--name", help="Display name (default: the folder's name).")
@click.option("--branch", default="main", show_default=True, help="Default branch.")
@json_option
@pass_app
def add(
    app: AppContext, path: str, project: str | None, name: str | None, branch: str, as_json: bool
) -> None:
    """Register the repository at PATH with a project."""
    added = app.service().add_repo(app.project_id(project), path, name=name, default_branch=branch)
    if as_json:
        emit_json(added)
    else:
        echo(f"added repo {sid(added.id)} {visible(added.name)} ({visible(added.path)})")


@repo.command("list")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--all", "all_", is_flag=True, help="Repositories of every project.")
@json_option
@pass_app
def list_(app: AppContext, project: str | None, all_: bool, as_json: bool) -> None:
    """List repositories of a project."""
    if all_ and project:
        raise click.UsageError("give either --project or --all")
    service = app.service()
    repos = service.get_repos(None if all_ else app.project_id(project))
    if as_json:
        emit_json(repos)
        return
    headers = ["id", "name", "branch", "path", "added"]
    rows = [[sid(r.id), r.name, r.default_branch, r.path, fmt_time(r.created_at)] for r in repos]
    if all_:
        headers.insert(1, "project")
        for row, r in zip(rows, repos, strict=True):
            row.insert(1, sid(r.project_id))
    table(headers, rows, empty="no repositories: nerv repo add PATH")


@repo.command("remove")
@click.argument("ident", metavar="ID", shell_complete=complete_id("repo"))
@json_option
@pass_app
def remove(app: AppContext, ident: str, as_json: bool) -> None:
    """Unregister a repository (the folder itself is not touched)."""
    from nerv.service.tables import REPOS

    repo_id = app.resolve(REPOS, ident)
    app.service().remove_repo(repo_id)
    if as_json:
        emit_json({"deleted": repo_id})
    else:
        echo(f"removed repo {sid(repo_id)}")
