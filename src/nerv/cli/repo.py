"""nerv repo ... (repositories of a project)"""

from __future__ import annotations

from pathlib import Path

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
@click.option("--branch", help="Default branch (default: git's: origin's HEAD, else the checked-out branch).")
@json_option
@pass_app
def add(
    app: AppContext, path: str, project: str | None, name: str | None, branch: str | None, as_json: bool
) -> None:
    """Register the git repository at PATH (an existing folder) with a project."""
    project_id = app.project_id(project)
    folder = existing_folder(path)
    if branch is None:
        branch = detected_branch(folder)
    added = app.service().add_repo(project_id, str(folder), name=name, default_branch=branch)
    if as_json:
        emit_json(added)
    else:
        echo(f"added repo {sid(added.id)} {visible(added.name)} ({visible(added.path)})")


def existing_folder(path: str) -> Path:
    """PATH as an absolute folder that exists (symlinks kept as written), or a clear error."""
    from nerv.errors import ValidationError
    from nerv.service.projects import normalize_path

    folder = Path(normalize_path(path))
    if not folder.exists():
        raise ValidationError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise ValidationError(f"not a folder: {folder}")
    return folder


def detected_branch(folder: Path) -> str:
    """The default branch git reports for ``folder``; nerv assumes none."""
    from nerv.errors import ValidationError
    from nerv.gitrepo import default_branch

    branch = default_branch(folder)
    if branch is None:
        raise ValidationError(
            f"cannot tell the default branch of {folder} (not a git repository, or a detached HEAD): "
            "give --branch NAME"
        )
    return branch


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
