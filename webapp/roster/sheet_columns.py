"""A spreadsheet's columns: the names each field goes by, in five languages, and the guess.

Shared by the spreadsheet reader, the file-role guesses and the mapping page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from webapp.roster.columns import norm_header

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
        "Child 1 ID",
        "Child 1",
        "Student 1 ID",
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
    # A parents file may name each child in a column of its own.
    "linked_student_2": ("Child 2 ID", "Child 2", "Second child ID", "Student 2 ID", "Kind 2"),
    "linked_student_3": ("Child 3 ID", "Child 3", "Third child ID", "Student 3 ID", "Kind 3"),
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
LOOKS_LIKE_DATA = re.compile(r"@|\d{3,}")


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
    return bool(LOOKS_LIKE_DATA.search(header))


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


def guess_links(headers: Sequence[str]) -> dict[str, str]:
    by_key = {norm_header(h): h for h in headers if h.strip()}
    mapping: dict[str, str] = {}
    for field, aliases in LINK_ALIASES.items():
        for alias in aliases:
            header = by_key.get(norm_header(alias))
            if header is not None and header not in mapping.values():
                mapping[field] = header
                break
    return mapping
