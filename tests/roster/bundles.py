"""Generate OneRoster 1.1 CSV bundles for tests and benches."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

USER_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
]
CLASS_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "grades",
    "courseSourcedId",
    "classCode",
    "classType",
    "location",
    "schoolSourcedId",
    "termSourcedIds",
    "subjects",
    "subjectCodes",
    "periods",
]
ENROLLMENT_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "classSourcedId",
    "schoolSourcedId",
    "userSourcedId",
    "role",
    "primary",
    "beginDate",
    "endDate",
]


@dataclass
class Bundle:
    """A small OneRoster world; call files() for the CSV bytes."""

    schools: list[tuple[str, str]] = field(default_factory=lambda: [("sch-1", "Oak School")])
    users: list[dict[str, str]] = field(default_factory=list)
    classes: list[dict[str, str]] = field(default_factory=list)
    enrollments: list[dict[str, str]] = field(default_factory=list)
    mode: str = "bulk"

    def user(self, sid: str, role: str, given: str, family: str, **extra: str) -> dict[str, str]:
        row = {
            "sourcedId": sid,
            "enabledUser": "true",
            "orgSourcedIds": self.schools[0][0],
            "role": role,
            "givenName": given,
            "familyName": family,
            **extra,
        }
        self.users.append(row)
        return row

    def klass(self, sid: str, title: str, teacher: str, students: list[str]) -> None:
        school = self.schools[0][0]
        self.classes.append(
            {
                "sourcedId": sid,
                "title": title,
                "courseSourcedId": "crs-1",
                "classType": "scheduled",
                "schoolSourcedId": school,
                "termSourcedIds": "term-1",
            }
        )
        for role, users in (("teacher", [teacher]), ("student", students)):
            for uid in users:
                self.enrollments.append(
                    {
                        "sourcedId": f"enr-{sid}-{uid}",
                        "classSourcedId": sid,
                        "schoolSourcedId": school,
                        "userSourcedId": uid,
                        "role": role,
                        "primary": "true" if role == "teacher" else "false",
                    }
                )

    def files(self) -> dict[str, bytes]:
        manifest = [("manifest.version", "1.0"), ("oneroster.version", "1.1")]
        for name in (
            "academicSessions",
            "categories",
            "classResources",
            "courseResources",
            "courses",
            "demographics",
            "lineItems",
            "resources",
            "results",
        ):
            manifest.append((f"file.{name}", "absent"))
        for name in ("orgs", "users", "classes", "enrollments"):
            manifest.append((f"file.{name}", self.mode))
        return {
            "manifest.csv": _csv(
                ["propertyName", "value"],
                [dict(zip(["propertyName", "value"], r, strict=True)) for r in manifest],
            ),
            "orgs.csv": _csv(
                [
                    "sourcedId",
                    "status",
                    "dateLastModified",
                    "name",
                    "type",
                    "identifier",
                    "parentSourcedId",
                ],
                [{"sourcedId": s, "name": n, "type": "school"} for s, n in self.schools],
            ),
            "users.csv": _csv(USER_HEADER, self.users),
            "classes.csv": _csv(CLASS_HEADER, self.classes),
            "enrollments.csv": _csv(ENROLLMENT_HEADER, self.enrollments),
        }


def _csv(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in header})
    return out.getvalue().encode()


def school_bundle(
    students: int = 30,
    *,
    families: bool = True,
    prefix: str = "",
    school: tuple[str, str] = ("sch-1", "Oak School"),
) -> Bundle:
    """A school with one teacher per 10 students, a class each, and a parent per student."""
    bundle = Bundle(schools=[school])
    teachers = []
    for t in range(max(1, students // 10)):
        teachers.append(
            bundle.user(
                f"{prefix}t{t}", "teacher", f"Teach{t}", "Er", email=f"{prefix}t{t}@oak.example"
            )["sourcedId"]
        )
    student_ids = []
    for s in range(students):
        row = bundle.user(f"{prefix}s{s}", "student", f"Stu{s}", f"Dent{s}", grades="05")
        student_ids.append(row["sourcedId"])
        if families:
            bundle.user(
                f"{prefix}p{s}",
                "parent",
                f"Par{s}",
                f"Dent{s}",
                email=f"{prefix}p{s}@home.example",
                agentSourcedIds=row["sourcedId"],
            )
    for t, teacher in enumerate(teachers):
        bundle.klass(f"{prefix}c{t}", f"Class {t}", teacher, student_ids[t * 10 : t * 10 + 10])
    return bundle


def district_bundle(students: int, parents: int, teachers: int, classes: int) -> dict[str, bytes]:
    """A large bulk bundle: each class gets a teacher and an equal share of two enrollments
    per student; parents are linked to one or two students each."""
    bundle = Bundle(schools=[("sch-1", "North High"), ("sch-2", "South Middle")])
    for t in range(teachers):
        bundle.users.append(
            {
                "sourcedId": f"t{t}",
                "enabledUser": "true",
                "orgSourcedIds": f"sch-{t % 2 + 1}",
                "role": "teacher",
                "givenName": f"Teacher{t}",
                "familyName": "Smith",
                "email": f"teacher{t}@district.example",
                "username": f"teacher{t}",
            }
        )
    for s in range(students):
        bundle.users.append(
            {
                "sourcedId": f"s{s}",
                "enabledUser": "true",
                "orgSourcedIds": f"sch-{s % 2 + 1}",
                "role": "student",
                "givenName": f"Student{s}",
                "familyName": "Jones",
                "grades": f"{s % 12 + 1:02d}",
                "username": f"student{s}",
                "identifier": f"N{s:07d}",
            }
        )
    for p in range(parents):
        children = [f"s{p}"] + ([f"s{p + parents}"] if p + parents < students else [])
        bundle.users.append(
            {
                "sourcedId": f"p{p}",
                "enabledUser": "true",
                "orgSourcedIds": f"sch-{p % 2 + 1}",
                "role": "parent",
                "givenName": f"Parent{p}",
                "familyName": "Jones",
                "username": f"parent{p}",
                "email": f"parent{p}@home.example",
                "agentSourcedIds": ",".join(children),
            }
        )
    per_class = (students * 2) // classes
    for c in range(classes):
        school = f"sch-{c % 2 + 1}"
        bundle.classes.append(
            {
                "sourcedId": f"c{c}",
                "title": f"Class {c}",
                "courseSourcedId": "crs",
                "classType": "scheduled",
                "schoolSourcedId": school,
                "termSourcedIds": "term",
            }
        )
        bundle.enrollments.append(
            {
                "sourcedId": f"e-t{c}",
                "classSourcedId": f"c{c}",
                "schoolSourcedId": school,
                "userSourcedId": f"t{c % teachers}",
                "role": "teacher",
                "primary": "true",
            }
        )
    for s in range(students):
        for k in range(2):
            c = (s * 2 + k) % classes
            bundle.enrollments.append(
                {
                    "sourcedId": f"e-s{s}-{k}",
                    "classSourcedId": f"c{c}",
                    "schoolSourcedId": f"sch-{c % 2 + 1}",
                    "userSourcedId": f"s{s}",
                    "role": "student",
                    "primary": "false",
                }
            )
    del per_class
    return bundle.files()


def merged(*bundles: Bundle) -> Bundle:
    """One bundle holding several schools' bundles (give each its own prefix)."""
    whole = Bundle(schools=[])
    for bundle in bundles:
        whole.schools += bundle.schools
        whole.users += bundle.users
        whole.classes += bundle.classes
        whole.enrollments += bundle.enrollments
    return whole
