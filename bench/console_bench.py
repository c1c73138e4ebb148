"""Admin console at district size: People search and filters, and the console home.

With 5,000 and then 50,000 users (issue 12): search and filter p95 server time against a
bare Flask route measured in the same run (target <= 10x), the growth of that p95 from
5,000 to 50,000 users (target <= 1.5x), and the console home p95 (target <= 40x).
Medians of alternating rounds, as the other benches do. Run: python bench/console_bench.py
"""

from __future__ import annotations

import statistics

from common import finish, make_app, p95, report, timed
from flask import Flask
from flask_login import login_required

REPEAT = 60
ROUNDS = 3
SIZES = (5_000, 50_000)
QUERIES = (
    "/admin/users?q=smith",
    "/admin/users?role=student&state=not_sent",
    "/admin/users?grade=05&sort=last_sign_in&dir=desc",
    "/admin/users?problem=no_email&role=parent",
)
# Every signed-in page pays for the session, the account check and the security headers:
# this route pays only that, so its figure shows how much of the 10x is left for the page.
FLOOR = "/bench/signed-in-floor"


def seed(app, people: int) -> None:
    """A district of `people` accounts in two schools, and one district-wide admin.

    Names are Faker's en_US names, drawn with Faker's weights (Smith is about one person in
    fifty, more than in a real district), so a surname search finds about as many people as
    it would in a real one; usernames are u0, u1, ...
    """
    from faker import Faker
    from sqlalchemy import insert

    from webapp.extensions import db
    from webapp.models import Role, School, User, user_schools, utcnow
    from webapp.services import passwords

    fake = Faker("en_US")
    fake.seed_instance(people)
    with app.app_context():
        schools = [School(name="North High"), School(name="South Elementary")]
        db.session.add_all(schools)
        db.session.flush()
        now = utcnow()
        db.session.execute(insert(User), [
            {"username": f"u{n}", "given_name": fake.first_name(), "family_name": fake.last_name(),
             "role": ("student", "student", "parent", "teacher")[n % 4],
             "grade": f"{n % 12 + 1:02d}" if n % 4 < 2 else None,
             "email": f"u{n}@example.org" if n % 5 else None, "source": "bench",
             "sourced_id": str(n), "credential_epoch": f"{n:032d}",
             "invited_at": now if n % 3 else None, "activated_at": now if n % 6 == 0 else None,
             "must_change_password": False, "district_wide": False, "failed_login_count": 0}
            for n in range(people)
        ])  # fmt: skip
        ids = db.session.scalars(db.select(User.id)).all()
        db.session.execute(insert(user_schools), [
            {"user_id": i, "school_id": schools[i % 2].id} for i in ids
        ])  # fmt: skip
        admin = User(username="bench.admin", given_name="Bench", family_name="Admin",
                     role=Role.ADMIN, district_wide=True, activated_at=now,
                     password_hash=passwords.hash_password("bench-admin-password-1"))  # fmt: skip
        db.session.add(admin)
        db.session.commit()
        # What the housekeeping job does after an import: sample the tables for the planner.
        from webapp.housekeeping import refresh_statistics

        refresh_statistics()


def signed_in(app):
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    client.post("/sign-in", data={"csrf_token": token, "identifier": "bench.admin",
                                  "password": "bench-admin-password-1"})  # fmt: skip
    assert client.get("/admin/users").status_code == 200
    return client


def measure(client, bare_client) -> tuple[float, float, float, float]:
    """Median over alternating rounds of (bare p95, search p95, console home p95, and the
    signed-in floor p95: a route of this app that only answers "ok", for information)."""
    rounds = []
    for _ in range(ROUNDS):
        bare = p95(timed(lambda: bare_client.get("/"), REPEAT * len(QUERIES)))
        search = p95([s for q in QUERIES for s in timed(lambda q=q: client.get(q), REPEAT)])
        home = p95(timed(lambda: client.get("/admin/"), REPEAT))
        floor = p95(timed(lambda: client.get(FLOOR), REPEAT))
        rounds.append((bare, search, home, floor))
    return tuple(statistics.median(side) for side in zip(*rounds, strict=True))


def main() -> None:
    bare_app = Flask("bare")
    bare_app.add_url_rule("/", "bare", lambda: "ok")
    bare_client = bare_app.test_client()
    timed(lambda: bare_client.get("/"), 50)
    results = {}
    for size in SIZES:
        app = make_app(RATELIMIT_ENABLED=False)
        app.add_url_rule(FLOOR, "bench_floor", login_required(lambda: "ok"))
        seed(app, size)
        client = signed_in(app)
        for q in QUERIES:
            timed(lambda q=q, c=client: c.get(q), 5)
        results[size] = measure(client, bare_client)
        bare, search, home, floor = results[size]
        print(f"{size} users: bare {bare * 1000:.2f} ms, search/filter p95 {search * 1000:.2f} ms,"
              f" console home p95 {home * 1000:.2f} ms, signed-in floor p95 {floor * 1000:.2f} ms"
              f" ({floor / bare:.1f}x bare, information)")  # fmt: skip
    bare, search, home, _ = results[SIZES[-1]]
    report("people search p95 vs bare route (50,000 users)", search / bare, 10)
    report("people search p95 growth 5,000 -> 50,000", search / results[SIZES[0]][1], 1.5)
    report("console home p95 vs bare route (50,000 users)", home / bare, 40)
    finish()


if __name__ == "__main__":
    main()
