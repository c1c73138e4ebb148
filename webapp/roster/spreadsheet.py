"""Read a spreadsheet export: one people file, optionally a parent-student links file."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from webapp.csv_safe import is_keyslip_export, unneutralise
from webapp.roster.columns import Columns, norm_header
from webapp.roster.context import FileSet, ReadContext, map_role
from webapp.roster.decode import Table
from webapp.roster.normalise import date_hint, date_order, identity_key, parse_date
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    DateOrder,
    DateQuestion,
    GuardianRecord,
    PersonRecord,
    Role,
    Roster,
    SchoolRecord,
    Status,
)

# Keyslip field -> header names seen in spreadsheets, most specific first: English,
# then German, French, Spanish and Dutch. Headers are compared by norm_header(), so case,
# accents, spaces and punctuation do not matter ("Prenom" finds "Prénom").
# Keyslip's own account export uses the field names themselves, so an
# export -> edit -> re-import round trip maps with no help.
ALIASES: dict[str, tuple[str, ...]] = {
    "sourced_id": (
        "sourcedId",
        "ID",
        "SIS ID",
        "Student ID",
        "Pupil ID",
        "Parent ID",
        "Guardian ID",
        "Contact ID",
        "Staff ID",
        "Teacher ID",
        "User ID",
        "Person ID",
        "MIS ID",
        "Admission Number",
        "Adno",
        "External ID",
        "Identifier",
        # de
        "Schüler-ID",
        "Schueler-ID",
        "Personen-ID",
        "Lehrer-ID",
        "Eltern-ID",
        # fr
        "Identifiant",
        "ID élève",
        "Identifiant élève",
        # es
        "ID alumno",
        "ID estudiante",
        # nl
        "Leerling-ID",
        "Leerlingid",
    ),
    "username": (
        "Username",
        "User name",
        "Login",
        "Login name",
        "Login ID",
        "Account name",
        "Benutzername",
        "Anmeldename",
        "Nom d'utilisateur",
        "Identifiant de connexion",
        "Nombre de usuario",
        "Usuario",
        "Gebruikersnaam",
        "Inlognaam",
    ),
    "given_name": (
        "First Name",
        "Forename",
        "Given name",
        "Firstname",
        "givenName",
        "Preferred first name",
        "Preferred forename",
        "Legal forename",
        "Parent first name",
        "Student first name",
        "Vorname",
        "Rufname",
        "Prénom",
        "Nombre",
        "Nombres",
        "Voornaam",
        "Roepnaam",
    ),
    "family_name": (
        "Surname",
        "Last Name",
        "Family name",
        "Lastname",
        "familyName",
        "Legal surname",
        "Preferred surname",
        "Parent last name",
        "Parent surname",
        "Student last name",
        "Student surname",
        "Nachname",
        "Familienname",
        "Zuname",
        "Nom",
        "Nom de famille",
        "Apellido",
        "Apellidos",
        "Achternaam",
        "Familienaam",
        "Geslachtsnaam",
    ),
    "middle_name": ("Middle name", "Middle names", "Middle initial", "Zweitname", "Segundo nombre"),
    "name": (
        "Full name",
        "Name",
        "Student name",
        "Pupil name",
        "Parent name",
        "Display name",
        "Vollständiger Name",
        "Nom complet",
        "Nombre completo",
        "Volledige naam",
        "Naam",
    ),
    "email": (
        "Email",
        "E-mail",
        "Email address",
        "E-mail address",
        "Mail",
        "Student email",
        "Parent email",
        "Work email",
        "Primary email",
        "E-Mail-Adresse",
        "Mailadresse",
        "Courriel",
        "Adresse e-mail",
        "Adresse électronique",
        "Mél",
        "Correo",
        "Correo electrónico",
        "Email alumno",
        "E-mailadres",
    ),
    "phone": (
        "Mobile",
        "Mobile phone",
        "Mobile number",
        "Cell",
        "Cell phone",
        "SMS",
        "Phone",
        "Phone number",
        "Telephone",
        "Tel",
        "Parent mobile",
        "Parent phone",
        "Handy",
        "Handynummer",
        "Mobiltelefon",
        "Mobilnummer",
        "Telefon",
        "Telefonnummer",
        "Portable",
        "Téléphone portable",
        "Téléphone",
        "Móvil",
        "Celular",
        "Teléfono",
        "Mobiel",
        "Mobiel nummer",
        "Telefoon",
        "Telefoonnummer",
    ),
    "grade": (
        "Grade",
        "Grade level",
        "Year",
        "Year group",
        "Year level",
        "NC Year",
        "Class year",
        "Jahrgang",
        "Jahrgangsstufe",
        "Klassenstufe",
        "Klasse",
        "Niveau",
        "Classe",
        "Curso",
        "Grado",
        "Nivel",
        "Leerjaar",
        "Klas",
        "Groep",
    ),
    "role": (
        "Role",
        "Type",
        "User type",
        "Account type",
        "Person type",
        "Relationship",
        "Rolle",
        "Benutzertyp",
        "Rôle",
        "Profil",
        "Rol",
        "Tipo",
        "Tipo de usuario",
    ),
    "student_number": (
        "Student number",
        "UPN",
        "Pupil number",
        "Student no",
        "Candidate number",
        "Schülernummer",
        "Schuelernummer",
        "Numéro d'élève",
        "INE",
        "Número de alumno",
        "NIA",
        "Leerlingnummer",
    ),
    "school": (
        "School",
        "School name",
        "School ID",
        "Campus",
        "Site",
        "School code",
        "Schule",
        "Schulname",
        "Schulnummer",
        "École",
        "Établissement",
        "Escuela",
        "Colegio",
        "Centro",
        "Schoolnaam",
        "Vestiging",
    ),
    "password": (
        "Password",
        "Initial password",
        "Temporary password",
        "Temp password",
        "Passwort",
        "Kennwort",
        "Mot de passe",
        "Contraseña",
        "Wachtwoord",
    ),
    "status": ("Status", "Account status", "Statut", "Estado"),
    "enabled": ("Enabled", "Active", "Login enabled", "Aktiv", "Actif", "Activo", "Actief"),
    "linked_student": (
        "Child ID",
        "Child",
        "Linked student",
        "Linked student ID",
        "Kind",
        "Kind-ID",
        "Enfant",
        "ID enfant",
        "Hijo",
        "Hija",
        "ID hijo",
    ),
    # Only the leaving date: Keyslip keeps no birth dates (data minimisation).
    "leave_date": (
        "Leaving Date",
        "Date of Leaving",
        "Leave Date",
        "Exit Date",
        "End Date",
        "Withdrawal Date",
        "Date Left",
        "Austrittsdatum",
        "Abgangsdatum",
        "Date de sortie",
        "Date de départ",
        "Fecha de baja",
        "Fecha de salida",
        "Uitschrijfdatum",
        "Datum uitschrijving",
    ),
}
FIELDS = tuple(ALIASES)
LINK_ALIASES: dict[str, tuple[str, ...]] = {
    "link_parent": (
        "Parent ID",
        "Parent",
        "Guardian ID",
        "Guardian",
        "Contact ID",
        "Parent email",
        "Parent username",
        "Guardian email",
    ),
    "link_student": (
        "Student ID",
        "Student",
        "Pupil ID",
        "Pupil",
        "Child ID",
        "Child",
        "Student username",
        "UPN",
    ),
}
_PARENT_IDS = ("parentid", "guardianid", "contactid")
_CHILD_IDS = ("studentid", "pupilid", "childid")
_LOOKS_LIKE_DATA = re.compile(r"@|\d{3,}")


def guess_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Guess {keyslip_field: header} from a header row; unmatched fields are left out."""
    by_key: dict[str, str] = {}
    for header in headers:
        if header.strip():
            by_key.setdefault(norm_header(header), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    # Exact Keyslip field names first, so a re-imported export maps one to one.
    for field in FIELDS:
        header = by_key.get(norm_header(field))
        if header is not None and field != "linked_student":
            mapping[field] = header
            used.add(header)
    # A row keyed by a parent's id that also names a "Student ID" is one
    # parent-student link: the student column is the child, not the row's id.
    parent_id = next((by_key[k] for k in _PARENT_IDS if k in by_key), None)
    child_id = next((by_key[k] for k in _CHILD_IDS if k in by_key), None)
    if parent_id and child_id and "sourced_id" not in mapping:
        mapping["sourced_id"] = parent_id
        mapping["linked_student"] = child_id
        used.update((parent_id, child_id))
    for field in FIELDS:
        if field in mapping:
            continue
        for alias in ALIASES[field]:
            header = by_key.get(norm_header(alias))
            if header is not None and header not in used:
                mapping[field] = header
                used.add(header)
                break
    if "name" in mapping and "given_name" in mapping and "family_name" in mapping:
        del mapping["name"]
    elif "name" in mapping and "given_name" in mapping:
        # "Vorname" beside "Name" (or "Prénom" beside "Nom") is a first name and a surname.
        mapping["family_name"] = mapping.pop("name")
    return mapping


# Words that mark a column as mattering to accounts, for columns left unmapped: a status
# or leaving column left out keeps a leaver active; an email left out sends nothing.
_MEANINGFUL: tuple[tuple[str, str], ...] = (
    ("status", "status"),
    ("statut", "status"),
    ("estado", "status"),
    ("left", "status"),
    ("leaver", "status"),
    ("leav", "leave_date"),
    ("withdraw", "leave_date"),
    ("exit", "leave_date"),
    ("austritt", "leave_date"),
    ("abgang", "leave_date"),
    ("sortie", "leave_date"),
    ("baja", "leave_date"),
    ("uitschrijf", "leave_date"),
    ("active", "enabled"),
    ("aktiv", "enabled"),
    ("enabled", "enabled"),
    ("mail", "email"),
    ("courriel", "email"),
    ("correo", "email"),
    ("phone", "phone"),
    ("mobil", "phone"),
    ("tele", "phone"),
    ("handy", "phone"),
    ("role", "role"),
    ("rolle", "role"),
    ("type", "role"),
    ("school", "school"),
    ("schule", "school"),
    ("ecole", "school"),
    ("grade", "grade"),
    ("year", "grade"),
    ("klass", "grade"),
    ("password", "password"),
    ("passwort", "password"),
)
# Columns Keyslip deliberately does not keep, which are not worth pointing out.
_NOT_KEPT = ("birth", "geburt", "naissance", "nacimiento", "geboorte", "dob")


def looks_like_data(header: str) -> bool:
    """Tell whether a header cell looks like a value (an email, a long number) instead."""
    return bool(_LOOKS_LIKE_DATA.search(header))


def unmapped_meaningful(
    headers: Sequence[str], mapping: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Return (header, field it looks like) for columns left unmapped that may matter."""
    used = {norm_header(v) for v in mapping.values() if not v.startswith("=")}
    aliases = {norm_header(a): f for f, names in ALIASES.items() for a in (f, *names)}
    found: list[tuple[str, str]] = []
    for header in headers:
        key = norm_header(header)
        if not key or key in used or any(word in key for word in _NOT_KEPT):
            continue
        field = aliases.get(key) or next((f for word, f in _MEANINGFUL if word in key), None)
        if field is not None and field not in mapping:
            found.append((header, field))
    return found


def _guess_links(headers: Sequence[str]) -> dict[str, str]:
    by_key = {norm_header(h): h for h in headers if h.strip()}
    mapping: dict[str, str] = {}
    for field, aliases in LINK_ALIASES.items():
        for alias in aliases:
            header = by_key.get(norm_header(alias))
            if header is not None and header not in mapping.values():
                mapping[field] = header
                break
    return mapping


def split_name(name: str) -> tuple[str, str]:
    """Split "Smith, Mary" or "Mary Ann Smith" into (given, family)."""
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    parts = name.split()
    if len(parts) < 2:
        return name.strip(), ""
    return " ".join(parts[:-1]), parts[-1]


class SpreadsheetReader:
    """Read people (and links) from spreadsheet CSVs with a column mapping."""

    def __init__(self, files: FileSet, ctx: ReadContext, mapping: Mapping[str, str] | None) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.mapping = dict(mapping) if mapping else None
        self.roster = Roster(format="csv", complete=False)
        self.people = PeopleCollector(ctx)
        self.schools: dict[str, SchoolRecord] = {}
        self.links: list[tuple[str, str, str, int]] = []

    def _pick_files(self) -> tuple[Table | None, Table | None]:
        """Open the files; return (people table, links table)."""
        tables = []
        for name, data in self.files:
            table = self.ctx.open(name, data)
            if table is not None:
                tables.append(table)
        if len(tables) > 2:
            self.log.error(
                "upload",
                None,
                None,
                "A spreadsheet import takes one people file and at most one parent-student "
                f"links file; {len(tables)} files were uploaded.",
            )
            return None, None
        if not tables:
            return None, None

        def score(table: Table) -> int:
            guessed = guess_mapping(table.header)
            return sum(f in guessed for f in ("given_name", "family_name", "name", "email"))

        tables.sort(key=score, reverse=True)
        people = tables[0]
        links = tables[1] if len(tables) > 1 else None
        return people, links

    def _columns(self, table: Table) -> tuple[Columns, dict[str, str]] | None:
        mapping = self.mapping if self.mapping is not None else guess_mapping(table.header)
        constants = {k: v[1:] for k, v in mapping.items() if v.startswith("=")}
        headers = {k: v for k, v in mapping.items() if not v.startswith("=") and k in FIELDS}
        unknown = sorted(set(mapping) - set(FIELDS))
        if unknown:
            self.log.error(
                table.file,
                None,
                None,
                f"The column mapping names unknown fields: {', '.join(unknown)}. "
                f"Known fields: {', '.join(FIELDS)}.",
            )
            return None
        present = {norm_header(h) for h in table.header}
        absent = [h for h in headers.values() if norm_header(h) not in present]
        if absent:
            self.log.error(
                table.file,
                table.header_line,
                None,
                f"The column mapping names {', '.join(repr(h) for h in absent)}, which the "
                f"header row does not have (it has: {', '.join(h for h in table.header if h)}).",
            )
            return None
        looks_like_data = table.has_header and any(_LOOKS_LIKE_DATA.search(h) for h in table.header)
        if not headers and looks_like_data:
            self.log.error(
                table.file,
                table.header_line,
                None,
                "The first row looks like data, not column names. If the file has no header "
                "row, say the first row is data (on the upload or column page, or "
                "--no-header) and choose the columns by position; or add a header row (for "
                "example: ID, First Name, Last Name, Email, Role) and upload again.",
            )
            return None
        if looks_like_data:
            self.log.warning(
                table.file,
                table.header_line,
                None,
                "The first row was read as column names, but it looks like data (an email "
                "or a number). If the file has no header row, upload it again and say the "
                "first row is data, so that row is imported too.",
                kind="header-like-data",
            )
        fields = {field: (header,) for field, header in headers.items()}
        required = ["given_name", "family_name"] if "name" not in fields else ["name"]
        missing_id = not ({"sourced_id", "username", "email", "student_number"} & set(fields))
        cols = Columns(table, fields, [r for r in required if r in fields], self.log)
        lacking = [r for r in required if r not in fields]
        if lacking or missing_id:
            wanted = ["first name", "last name"] if lacking else []
            if missing_id:
                wanted.append("an ID, username or email")
            self.log.error(
                table.file,
                table.header_line,
                None,
                f"No column was found for {', '.join(wanted)}, so nothing was imported. The "
                f"header row has: {', '.join(h for h in table.header if h)}. Choose the columns "
                "in the mapping, or rename the headers.",
            )
            return None
        if "sourced_id" not in fields:
            fallback = next(f for f in ("username", "email", "student_number") if f in fields)
            matched_by = fallback.replace("_", " ")
            self.log.note(f"{table.file}: no ID column, so people are matched by {matched_by}.")
        used = set(headers.values())
        ignored = [h for h in table.header if h and h not in used]
        if ignored:
            self.log.note(f"{table.file}: columns not imported: {', '.join(ignored)}.")
        return cols, constants

    def _role(self, raw: str, file: str, line: int, column: str, sid: str) -> Role | None:
        role = map_role(raw)
        if role is not None:
            return role
        # A relationship word ("Stepfather", "Brother") makes a parent or leaves the
        # contact out; in a relationship column an unknown word leaves it out too.
        parent = self.ctx.contact_is_parent(
            raw,
            file,
            line,
            column,
            f"'{sid}'",
            unknown_is_contact="relation" in norm_header(column),
        )
        if parent is not None:
            return "parent" if parent else None
        if role is None:
            self.log.error(
                file,
                line,
                column,
                f"Role '{raw}' is not one of student, teacher, staff, parent, admin; the row "
                "was skipped.",
                kind="bad-role",
            )
        return role

    def _status(self, raw: str, file: str, line: int, column: str) -> Status | None:
        value = raw.strip().casefold()
        if not value:
            return None
        if value in ("active", "current"):
            return "active"
        if value in ("tobedeleted", "inactive", "deleted", "left", "deactivated"):
            return "tobedeleted"
        self.log.warning(
            file, line, column, f"Status '{raw}' is not active or inactive; ignored.", kind="status"
        )
        return None

    def read_people(self, table: Table) -> None:
        """Read the people file."""
        opened = self._columns(table)
        if opened is None:
            return
        cols, constants = opened
        ctx, file = self.ctx, table.file
        id_field = next(
            f for f in ("sourced_id", "username", "email", "student_number") if cols.has(f)
        )
        role_constant = constants.get("role")
        if "role" not in constants and not cols.has("role"):
            role_constant = "student"
            self.log.warning(
                file,
                None,
                None,
                "There is no role column, so everyone in this file was imported as a student. "
                "Choose a role in the mapping if that is wrong.",
            )
        school_constant = constants.get("school")
        link_index = cols.index.get("linked_student")
        # Only Keyslip's own export neutralised cells; elsewhere a leading "'" is the data.
        from_export = is_keyslip_export(table.header)
        # (index in self.people, line, raw value): read once the whole column is seen,
        # because only the whole column tells day/month order.
        dated: list[tuple[int, int, str]] = []
        for line, cells in table.rows():
            if from_export and any(c.startswith("'") for c in cells):
                # A Keyslip export neutralised formula cells with "'"; read them verbatim.
                cells = [unneutralise(c) for c in cells]
            raw_id = cols.get(cells, id_field)
            sid = identity_key(raw_id) if id_field == "email" else ctx.ident(raw_id)
            if not sid:
                self.log.error(
                    file,
                    line,
                    cols.name(id_field),
                    f"{cols.name(id_field)} is empty; the row was skipped.",
                    kind="no-id",
                )
                continue
            raw_role = role_constant or cols.get(cells, "role")
            role = self._role(raw_role, file, line, cols.name("role"), sid)
            if role is None:
                continue
            school = school_constant or ctx.ident(cols.get(cells, "school"))
            if school and school not in self.schools:
                self.schools[school] = SchoolRecord(school, school, file, line, cols.name("school"))
            linked = ctx.ident(cols.get(cells, "linked_student"))
            if linked:
                self.links.append((sid, linked, file, line))
            if self.people.seen(sid):
                core = tuple(
                    c
                    for i, c in enumerate(cells)
                    if i not in (link_index, cols.index.get("school"))
                )
                self.people.repeat(sid, core, school or None, file, line)
                continue
            if cols.has("name"):
                full = cols.get(cells, "name")
                ctx.check_name(full, file, line, cols.name("name"))
                given, family = split_name(full)
                given = ctx.text(given, file, line, cols.name("name"))
                family = ctx.text(family, file, line, cols.name("name"))
            else:
                given = ctx.name(cols.get(cells, "given_name"), file, line, cols.name("given_name"))
                family = ctx.name(
                    cols.get(cells, "family_name"), file, line, cols.name("family_name")
                )
            if not given or not family:
                column = (
                    cols.name("name")
                    if cols.has("name")
                    else cols.name("given_name" if not given else "family_name")
                )
                self.log.error(
                    file,
                    line,
                    column,
                    "The name is missing or has no family name; the row was skipped.",
                    kind="no-name",
                )
                continue
            enabled = True
            if cols.has("enabled"):
                enabled = ctx.flag(
                    cols.get(cells, "enabled"), file, line, cols.name("enabled"), True
                )
            core = tuple(
                c for i, c in enumerate(cells) if i not in (link_index, cols.index.get("school"))
            )
            self.people.add(
                PersonRecord(
                    sourced_id=sid,
                    role=role,
                    given_name=given,
                    family_name=family,
                    file=file,
                    line=line,
                    username=ctx.ident(cols.get(cells, "username")) or None,
                    email=ctx.email(cols.get(cells, "email"), file, line, cols.name("email")),
                    phone=ctx.phone([cols.get(cells, "phone")], file, line, cols.name("phone")),
                    grade=ctx.grade(cols.get(cells, "grade"), file, line, cols.name("grade"))
                    if role == "student"
                    else None,
                    student_number=ctx.student_number(
                        cols.get(cells, "student_number"), file, line, cols.name("student_number")
                    ),
                    school_ids=ctx.ids((school,) if school else ()),
                    status=self._status(cols.get(cells, "status"), file, line, cols.name("status")),
                    enabled=enabled,
                    password=cols.get(cells, "password") or None,
                    middle_name=ctx.name(
                        cols.get(cells, "middle_name"), file, line, cols.name("middle_name")
                    )
                    or None,
                ),
                core,
            )
            leave_date = cols.get(cells, "leave_date")
            if leave_date:
                dated.append((len(self.people.people) - 1, line, leave_date))
        if dated:
            self._leave_dates(file, cols.name("leave_date"), dated)

    def _leave_dates(self, file: str, column: str, dated: list[tuple[int, int, str]]) -> None:
        """Read the leaving dates; people whose date has come are marked as leaving."""
        order = date_order([raw for _, _, raw in dated])
        if order == "mixed":
            day_first = next((line, raw) for _, line, raw in dated if date_hint(raw) == "DMY")
            month_first = next((line, raw) for _, line, raw in dated if date_hint(raw) == "MDY")
            line, raw = max(day_first, month_first)
            other_line, other = min(day_first, month_first)
            self.log.error(
                file,
                line,
                column,
                f"'{raw}' can only be read {'day' if date_hint(raw) == 'DMY' else 'month'} "
                f"first, but '{other}' on line {other_line} only "
                f"{'day' if date_hint(other) == 'DMY' else 'month'} first. Write every date "
                f"in column '{column}' the same way (2025-07-31 is safest) and upload again.",
                kind="mixed-dates",
            )
            return
        reading: DateOrder | None = None
        if order in ("DMY", "MDY"):
            reading = order  # type: ignore[assignment]
        elif order == "ambiguous":
            line, example = next(
                (line, raw) for _, line, raw in dated if date_hint(raw) == "either"
            )
            self.roster.date_questions.append(
                DateQuestion(file, line, column, example, self.ctx.date_order)
            )
            if self.ctx.date_order is None:
                self.log.error(
                    file,
                    line,
                    column,
                    f"Dates in column '{column}' could be day/month or month/day (for "
                    f"example {example}). Choose the date order and preview again.",
                    kind="date-order",
                )
            reading = self.ctx.date_order
        today = self.ctx.today
        people = self.people.people
        leaving = 0
        upcoming: list[date] = []
        for index, line, raw in dated:
            # Unanswered, the order is unknown: still check every value is a date at all.
            when = parse_date(raw, reading or "DMY")
            if when is None:
                self.log.warning(
                    file,
                    line,
                    column,
                    f"'{raw[:40]}' is not a date Keyslip can read (write it as 2025-07-31 or "
                    "31.07.2025); the leaving date was ignored and the person kept.",
                    kind="bad-date",
                )
            elif reading is None and order == "ambiguous":
                continue
            elif when <= today:
                people[index] = replace(people[index], status="tobedeleted", left_on=when)
                leaving += 1
            else:
                upcoming.append(when)
        if leaving:
            self.log.note(
                f"{file}: {leaving} {'person has' if leaving == 1 else 'people have'} a leaving "
                f"date on or before {today.isoformat()}, so they are treated as leaving: "
                "deactivated if they are in Keyslip, not created if they are not."
            )
        if upcoming:
            first = min(upcoming)
            self.roster.next_leave_date = first
            self.log.note(
                f"{file}: {len(upcoming)} {'person has' if len(upcoming) == 1 else 'people have'}"
                f" a leaving date still to come (the first on {first.isoformat()}); they stay "
                "active until an import on or after that date."
            )

    def read_links(self, table: Table) -> None:
        """Read a parent-student links file."""
        guessed = _guess_links(table.header)
        if self.mapping:
            guessed.update({k: v for k, v in self.mapping.items() if k in LINK_ALIASES})
        fields = {k: (v,) for k, v in guessed.items()}
        cols = Columns(table, fields, ("link_parent", "link_student"), self.log)
        if not cols.ok:
            return
        for line, cells in table.rows():
            parent = cols.get(cells, "link_parent")
            student = cols.get(cells, "link_student")
            if parent and student:
                self.links.append((parent, student, table.file, line))

    def _resolve(self) -> dict[str, str]:
        """Map ids, usernames and emails (identity keys) to sourced ids."""
        keys: dict[str, str] = {}
        for person in self.people.people:
            for value in (person.email, person.username):
                if value:
                    keys.setdefault(identity_key(value), person.sourced_id)
        for person in self.people.people:
            keys[identity_key(person.sourced_id)] = person.sourced_id
        return keys

    def link(self) -> None:
        """Turn collected (parent, student) pairs into GuardianRecords."""
        keys = self._resolve()
        for parent_ref, student_ref, file, line in self.links:
            parent = keys.get(identity_key(parent_ref))
            student = keys.get(identity_key(student_ref))
            if parent is None or student is None:
                missing = parent_ref if parent is None else student_ref
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{missing}' matches nobody in the people file by ID, username or email; "
                    "no link was made.",
                    kind="dangling-link",
                )
                continue
            roles = (self.people.role_of(parent), self.people.role_of(student))
            if roles != ("parent", "student"):
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{parent}' is a {roles[0]} and '{student}' a {roles[1]}; only a parent can "
                    "be linked to a student, so no link was made.",
                    kind="pairing",
                )
                continue
            self.roster.guardians.append(GuardianRecord(parent, student, file, line))

    def read(self) -> Roster:
        """Read the people file and the optional links file."""
        people, links = self._pick_files()
        if people is not None:
            self.read_people(people)
            if people.row_count == 0 and not self.log.has_file_error({people.file}):
                self.log.error(
                    people.file,
                    None,
                    None,
                    "The file has a header row but no people in it.",
                )
        if links is not None:
            self.read_links(links)
        self.link()
        self.roster.people = self.people.people
        self.roster.schools = list(self.schools.values())
        return self.roster


def read_spreadsheet(files: FileSet, ctx: ReadContext, mapping: Mapping[str, str] | None) -> Roster:
    """Read a spreadsheet upload; it is not a complete roster unless the caller says so."""
    return SpreadsheetReader(files, ctx, mapping).read()
