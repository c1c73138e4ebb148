"""A realistic, deterministic demo district for `make run` and the screenshots."""

from __future__ import annotations

import random
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Class, Enrollment, GuardianLink, Role, School, Setting, User, utcnow
from webapp.services import audit, passwords

DEMO_PASSWORD = "correct-horse-battery"  # noqa: S105 (demo data only, printed by make run)
DEMO_TIME_ZONE = "America/Chicago"

ELEMENTARY_GRADES = ["KG", "01", "02", "03", "04", "05"]
HIGH_GRADES = ["06", "07", "08", "09", "10", "11", "12"]
HIGH_SUBJECTS = [
    "English",
    "Mathematics",
    "Biology",
    "Chemistry",
    "History",
    "Geography",
    "Spanish",
    "French",
    "Art",
    "Music",
    "Computer Science",
    "Physical Education",
    "Health",
    "Drama",
    "Economics",
    "Physics",
    "Literature",
    "Statistics",
    "Civics",
    "Design",
    "Robotics",
    "Latin",
    "Psychology",
    "Journalism",
    "Band",
    "Choir",
    "Philosophy",
    "Engineering",
]


@dataclass(frozen=True)
class DemoSignIn:
    role: str
    username: str
    note: str


DEMO_SIGN_INS = [
    DemoSignIn("admin", "admin", "district admin, sees both schools"),
    DemoSignIn("admin", "maple.admin", "school admin, Maple Grove Elementary only"),
    DemoSignIn("teacher", "demo.teacher", "teacher of a Grade 3 homeroom"),
    DemoSignIn("parent", "demo.parent", "parent of two children"),
    DemoSignIn("student", "demo.student", "Grade 7 student"),
]


def demo_exists() -> bool:
    return (db.session.scalar(select(func.count(School.id))) or 0) > 0


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class _Builder:
    def __init__(self, seed: int) -> None:
        # Imported only here: Faker costs every `flask` command a twentieth of a second.
        from faker import Faker

        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.usernames: set[str] = set()
        self.now = utcnow()
        # One hash for demo people who are "active" but whose password nobody knows.
        self.unknown_hash = passwords.hash_password(secrets.token_urlsafe(24))
        self.demo_hash = passwords.hash_password(DEMO_PASSWORD)

    def username(self, given: str, family: str) -> str:
        base = f"{_ascii(given)}.{_ascii(family)}" or "user"
        name, n = base, 1
        while name in self.usernames:
            n += 1
            name = f"{base}{n}"
        self.usernames.add(name)
        return name

    def phone(self) -> str:
        # 555-01xx numbers are reserved for fiction.
        area = self.rng.choice(["202", "312", "415", "512", "617", "720"])
        return f"+1{area}5550{self.rng.randint(100, 199)}"

    def person(self, role: Role, given: str, family: str, school: School, **kw) -> User:
        user = User(
            role=role,
            given_name=given,
            family_name=family,
            username=kw.pop("username", None) or self.username(given, family),
            source="demo",
            **kw,
        )
        user.schools = [school] if not isinstance(school, list) else school
        db.session.add(user)
        return user

    def set_state(self, user: User, weights: dict[str, int]) -> None:
        state = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        days_ago = self.rng.randint(1, 60)
        if state in ("invited", "active", "deactivated"):
            user.invited_at = self.now - timedelta(days=days_ago + 7)
        if state in ("active", "deactivated"):
            user.activated_at = self.now - timedelta(days=days_ago)
            user.password_hash = self.unknown_hash
            user.last_login_at = self.now - timedelta(days=self.rng.randint(0, days_ago))
        if state == "deactivated":
            user.deactivated_at = self.now - timedelta(days=self.rng.randint(0, days_ago))

    def make_demo_login(self, user: User) -> None:
        user.password_hash = self.demo_hash
        user.invited_at = self.now - timedelta(days=30)
        user.activated_at = self.now - timedelta(days=20)
        user.deactivated_at = None


def seed_demo(seed: int = 2026) -> dict[str, int]:
    """Create the demo district in the current transaction; the caller commits."""
    b = _Builder(seed)
    maple = School(name="Maple Grove Elementary", source="demo", sourced_id="maple")
    river = School(name="Riverside High School", source="demo", sourced_id="river")
    db.session.add_all([maple, river])
    # The district keeps Central time, so the demo's pages show a school's clock, not UTC.
    db.session.add(Setting(school_id=None, key="time_zone", value=DEMO_TIME_ZONE))
    db.session.flush()

    admin = b.person(
        Role.ADMIN,
        "Dana",
        "Whitfield",
        [maple, river],
        username="admin",
        email="admin@district.example",
        district_wide=True,
    )
    maple_admin = b.person(
        Role.ADMIN, "Maya", "Okafor", maple, username="maple.admin", email="office@maple.example"
    )
    for user in (admin, maple_admin):
        b.make_demo_login(user)
    for school, count in ((maple, 2), (river, 3)):
        for _ in range(count):
            staff = b.person(
                Role.STAFF, b.fake.first_name(), b.fake.last_name(), school, email=None
            )
            staff.email = f"{staff.username}@{school.sourced_id}.example"
            b.set_state(staff, {"active": 6, "invited": 2, "not_sent": 2})

    # Students, grouped into families so some parents share children.
    students_by_grade: dict[str, list[User]] = {}
    families: list[list[User]] = []
    grades = [(g, maple, 50) for g in ELEMENTARY_GRADES] + [(g, river, 43) for g in HIGH_GRADES]
    pool: list[tuple[str, School]] = [(g, s) for g, s, n in grades for _ in range(n)]
    b.rng.shuffle(pool)
    while pool:
        family_name = b.fake.last_name()
        size = min(len(pool), b.rng.choices([1, 2, 3], weights=[75, 20, 5])[0])
        family = []
        for _ in range(size):
            grade, school = pool.pop()
            given = b.fake.first_name()
            student = b.person(
                Role.STUDENT,
                given,
                family_name,
                school,
                grade=grade,
                student_number=f"S{b.rng.randint(100000, 999999)}",
            )
            b.set_state(student, {"active": 40, "invited": 30, "not_sent": 25, "deactivated": 5})
            students_by_grade.setdefault(grade, []).append(student)
            family.append(student)
        families.append(family)

    parents = 0
    for family in families:
        schools = list({s.id: s for child in family for s in child.schools}.values())
        for _ in range(b.rng.choices([1, 2], weights=[5, 95])[0]):
            given = b.fake.first_name()
            family_name = family[0].family_name if b.rng.random() < 0.8 else b.fake.last_name()
            parent = b.person(Role.PARENT, given, family_name, schools, phone=b.phone())
            if b.rng.random() < 0.85:
                parent.email = (
                    f"{parent.username}@{b.rng.choice(['mail', 'post', 'inbox'])}.example"
                )
            b.set_state(parent, {"active": 35, "invited": 30, "not_sent": 35})
            db.session.flush()
            for child in family:
                db.session.add(
                    GuardianLink(parent_id=parent.id, student_id=child.id, origin="roster")
                )
            parents += 1
    db.session.flush()

    teachers: list[User] = []

    def teacher(school: School) -> User:
        given, family = b.fake.first_name(), b.fake.last_name()
        user = b.person(Role.TEACHER, given, family, school)
        user.email = f"{user.username}@{school.sourced_id}.example"
        b.set_state(user, {"active": 8, "invited": 2})
        teachers.append(user)
        return user

    classes = 0
    for grade in ELEMENTARY_GRADES:
        pupils = students_by_grade[grade]
        half = len(pupils) // 2
        for index, group in enumerate((pupils[:half], pupils[half:])):
            label = "Kindergarten" if grade == "KG" else f"Grade {int(grade)}"
            klass = Class(
                school_id=maple.id,
                title=f"{label} Homeroom {'AB'[index]}",
                class_code=f"HR-{grade}{'AB'[index]}",
                grades=grade,
                source="demo",
            )
            db.session.add(klass)
            db.session.flush()
            owner = teacher(maple)
            if grade == "03" and index == 0:
                owner.username, owner.given_name, owner.family_name = (
                    "demo.teacher",
                    "Tom",
                    "Alvarez",
                )
                owner.email = "demo.teacher@maple.example"
                b.make_demo_login(owner)
            db.session.flush()
            db.session.add(
                Enrollment(class_id=klass.id, user_id=owner.id, role="teacher", primary=True)
            )
            db.session.add_all(
                Enrollment(class_id=klass.id, user_id=s.id, role="student") for s in group
            )
            classes += 1
    for subject in HIGH_SUBJECTS:
        owner = teacher(river)
        db.session.flush()
        for grade in b.rng.sample(HIGH_GRADES, 3):
            klass = Class(
                school_id=river.id,
                title=f"{subject} {int(grade)}",
                class_code=f"{subject[:4].upper()}-{grade}",
                grades=grade,
                source="demo",
            )
            db.session.add(klass)
            db.session.flush()
            db.session.add(
                Enrollment(class_id=klass.id, user_id=owner.id, role="teacher", primary=True)
            )
            roster = b.rng.sample(
                students_by_grade[grade], k=min(25, len(students_by_grade[grade]))
            )
            db.session.add_all(
                Enrollment(class_id=klass.id, user_id=s.id, role="student") for s in roster
            )
            classes += 1

    # The demo parent: a two-child family with an email; the demo student: an active Grade 7.
    two_child = next(f for f in families if len(f) == 2)
    demo_parent_id = db.session.scalar(
        select(GuardianLink.parent_id).where(GuardianLink.student_id == two_child[0].id)
    )
    demo_parent = db.session.get(User, demo_parent_id)
    demo_parent.username = "demo.parent"
    demo_parent.email = demo_parent.email or "demo.parent@mail.example"
    b.make_demo_login(demo_parent)
    demo_student = students_by_grade["07"][0]
    demo_student.username = "demo.student"
    b.make_demo_login(demo_student)
    db.session.flush()

    counts = {
        "schools": 2,
        "students": sum(len(v) for v in students_by_grade.values()),
        "parents": parents,
        "teachers": len(teachers),
        "classes": classes,
    }
    audit.record(audit.CLI, "demo_seeded", seed=seed, **counts)
    return counts
