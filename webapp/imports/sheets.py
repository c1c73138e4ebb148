"""A spreadsheet upload of several files: each file's role and columns, chosen and remembered.

The run keeps {"files": {file name: {"role": ..., "columns": {field: column}}}} as its
mapping. Each file's role is remembered per school by file name, and its columns per school
by role, so the next export from the same SIS is offered the same choices; columns that
changed are never mapped silently (see mapping.offer_remembered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webapp.extensions import db
from webapp.imports.mapping import (
    MAPPING_SETTING,
    MappingChoice,
    check_columns,
    chosen_mapping,
    has_header,
    new_choice,
    offer_remembered,
    remember,
    remembered,
)
from webapp.imports.states import require_pending
from webapp.models import ImportRun, User
from webapp.roster.detect import peek_files
from webapp.roster.sheet_files import FILE_ROLES, guess_file_columns, guess_file_role
from webapp.roster.upload import unpack_upload
from webapp.services import uploads
from webapp.services.errors import PolicyError

FILE_ROLES_SETTING = "roster.csv_file_roles"
# What --file-role accepts: "teachers" is a staff and teachers file of teachers only.
CLI_FILE_ROLES = ("students", "parents", "staff", "teachers", *FILE_ROLES[3:])
SAMPLE_ROWS = 3


def role_setting(role: str) -> str:
    """Name the setting that remembers the columns of a school's files of this role."""
    return f"{MAPPING_SETTING}.{role}"


@dataclass
class FileChoice:
    """One file of the upload: its role (None until said or guessed) and its columns.

    role_remembered: the role came from this school's last upload of a file of this name.
    """

    name: str
    role: str | None
    columns: MappingChoice
    role_remembered: bool = False


def upload_files(run: ImportRun) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Return each file's column names and first rows, decoded as the import reads them."""
    name, data = uploads.load_upload(run.upload_key)
    files, _ = unpack_upload(name, data)
    return peek_files(files, has_header(run), samples=SAMPLE_ROWS)


def maps_per_file(run: ImportRun) -> bool:
    """Tell whether a spreadsheet upload is mapped file by file, each file with its role.

    It is when it holds several files, or one that is not a people file (classes, class
    memberships); a single people file keeps the one-file mapping page.
    """
    files = upload_files(run)
    if len(files) != 1:
        return len(files) > 1
    ((name, (columns, _)),) = files.items()
    return guess_file_role(name, [c for c in columns if c]) in ("classes", "memberships", "links")


def per_file(mapping: Mapping[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    """Return a run mapping's per-file part, or None for a one-file mapping."""
    files = (mapping or {}).get("files")
    return files if isinstance(files, dict) else None


def password_column(mapping: Mapping[str, Any] | None) -> str | None:
    """Return the password column a run's mapping reads, if it maps one."""
    files = per_file(mapping)
    if files is None:
        return (mapping or {}).get("password")
    return next(
        (f["columns"]["password"] for f in files.values() if "password" in f.get("columns", {})),
        None,
    )


def files_choice(run: ImportRun, roles: Mapping[str, str] | None = None) -> list[FileChoice]:
    """Return each file with the role and columns to offer; roles overrides the role."""
    current = per_file(chosen_mapping(run)) or {}
    known_roles = remembered(run.school_id, FILE_ROLES_SETTING)
    known_roles = known_roles if isinstance(known_roles, dict) else {}
    choices = []
    for name, (columns, rows) in upload_files(run).items():
        choice = new_choice(columns, rows, has_header(run))
        from_memory = False
        if roles is not None and name in roles:
            role = roles[name] or None
        elif name in current:
            role = current[name].get("role")
        elif known_roles.get(name) in FILE_ROLES:
            role, from_memory = known_roles[name], True
        else:
            role = guess_file_role(name, choice.headers)
        _offer_columns(run, choice, name, role, current.get(name))
        choices.append(FileChoice(name, role, choice, from_memory))
    return choices


def _offer_columns(
    run: ImportRun,
    choice: MappingChoice,
    name: str,
    role: str | None,
    current: Mapping[str, Any] | None,
) -> None:
    if role is None or role == "ignore":
        return
    guessed = guess_file_columns(role, name, choice.headers)
    if current and current.get("role") == role:
        choice.mapping = dict(current.get("columns") or {})
        return
    saved = remembered(run.school_id, role_setting(role))
    if isinstance(saved, dict) and isinstance(saved.get("mapping"), dict):
        offer_remembered(
            choice, (dict(saved["mapping"]), list(saved.get("headers") or [])), guessed
        )
    else:
        choice.mapping = guessed


def save_file_mappings(
    run: ImportRun,
    chosen: Mapping[str, tuple[str, Mapping[str, str]]],
    *,
    actor: User,
    confirmed: bool = False,
) -> None:
    """Store each file's role and columns on the run and remember them; caller commits.

    chosen maps a file name to (role, {field: column}). Every file needs a role; a people
    file without a role column needs the role of everyone in it said.
    """
    require_pending(run)
    choices = files_choice(run, roles={name: role for name, (role, _) in chosen.items()})
    problems: list[str] = []
    stored: dict[str, dict[str, Any]] = {}
    for file in choices:
        role = file.role
        if role not in FILE_ROLES:
            problems.append(
                f"{file.name}: say what this file holds (students, parents, staff and "
                "teachers, people of several roles, classes, class memberships, or not imported)."
            )
            continue
        columns, wrong = check_columns(
            role,
            chosen.get(file.name, (role, {}))[1],
            file.columns.headers,
            file.columns.has_header,
        )
        problems += [f"{file.name}: {p}" for p in wrong]
        if file.columns.changed and not confirmed:
            problems.append(
                f"{file.name}: the columns remembered from the last upload were offered, but "
                f"{file.columns.differences()}. Check each column and tick the box to confirm."
            )
        stored[file.name] = {"role": role, "columns": columns}
    if problems:
        raise PolicyError(problems)
    run.options = {**run.options, "mapping": {"files": stored}}
    known = remembered(run.school_id, FILE_ROLES_SETTING)
    roles = {**(known if isinstance(known, dict) else {})}
    roles.update({name: spec["role"] for name, spec in stored.items()})
    remember(run, FILE_ROLES_SETTING, roles, actor=actor)
    headers = {file.name: file.columns.headers for file in choices}
    for name, spec in stored.items():
        if spec["role"] != "ignore":
            value = {"mapping": spec["columns"], "headers": headers[name]}
            remember(run, role_setting(spec["role"]), value, actor=actor)
    db.session.flush()


def _said_roles(roles: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split the command line's roles into file roles and the role of everyone in a file.

    "staff" and "teachers" both make a staff and teachers file; without a role column,
    everyone in it is then staff, or a teacher, as the admin said.
    """
    file_roles: dict[str, str] = {}
    everyone: dict[str, str] = {}
    for name, role in roles.items():
        if role in ("staff", "teachers"):
            file_roles[name] = "staff"
            everyone[name] = "=teacher" if role == "teachers" else "=staff"
        else:
            file_roles[name] = role
    return file_roles, everyone


def automatic_file_mappings(
    run: ImportRun,
    *,
    actor: User,
    roles: Mapping[str, str] | None = None,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    remembered_only: bool = False,
) -> list[FileChoice]:
    """Map every file of a run nobody can ask on a page (the CLI, sync); caller commits.

    roles and columns are what the command line said per file. Otherwise a file's role is
    the one remembered for its name, or (not remembered_only) guessed from its name and
    headers, and its columns are remembered for its role, or guessed. A file with no role,
    or whose remembered columns were made for other headers, is refused with PolicyError.
    """
    roles, everyone = _said_roles(roles or {})
    columns = dict(columns or {})
    choices = files_choice(run, roles=roles)
    problems = []
    for file in choices:
        if file.name in roles and roles[file.name] not in FILE_ROLES:
            problems.append(
                f"{file.name}: {roles[file.name]!r} is not a file role; use one of "
                f"{', '.join(CLI_FILE_ROLES)}."
            )
        elif file.role is None or (
            remembered_only and not file.role_remembered and file.name not in roles
        ):
            problems.append(
                f"{file.name}: Keyslip does not know what this file holds. Import it once "
                "from the console (or the CLI with --file-role "
                f"{file.name}={'|'.join(CLI_FILE_ROLES)}) so "
                "its role and columns are remembered."
            )
        elif file.name in columns:
            continue
        elif file.role != "ignore" and remembered_only and not file.columns.remembered:
            problems.append(
                f"{file.name}: no columns are remembered for a {file.role} file of this school; "
                "choose them once on the import page, or give them with --mapping "
                f"{file.name}:field=column,..."
            )
        elif file.columns.changed:
            problems.append(
                f"{file.name}: the column mapping remembered from the last upload does not fit "
                f"this file: {file.columns.differences()}. Choose the columns on the import "
                f"page, or give them with --mapping {file.name}:field=column,... so no "
                "column is ignored by mistake."
            )
    if problems:
        raise PolicyError(problems)
    chosen = {}
    for file in choices:
        given = dict(columns.get(file.name) or file.columns.mapping)
        if file.name in everyone and not given.get("role"):
            given["role"] = everyone[file.name]
        chosen[file.name] = (file.role or "", given)
    save_file_mappings(run, chosen, actor=actor, confirmed=True)
    return files_choice(run)
