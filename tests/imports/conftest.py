"""Import test fixtures: a district-wide admin, and planning or applying a bundle as them."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.roster.bundles import Bundle
from webapp.extensions import db
from webapp.imports.plan import ImportOptions, ImportPlan
from webapp.imports.planner import plan_import
from webapp.imports.write import apply_plan
from webapp.models import Role, User
from webapp.roster import read_roster


@pytest.fixture
def admin(app) -> int:
    """The id of a district-wide admin called "district"."""
    with app.app_context():
        user = make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return user.id


def plan_bundle(bundle: Bundle, admin_id: int, **options) -> ImportPlan:
    """Plan a OneRoster bundle as source "sis"; changes nothing."""
    actor = db.session.get(User, admin_id)
    roster = read_roster(bundle.files())
    return plan_import(roster, ImportOptions(source="sis", **options), actor=actor)


def apply_bundle(bundle: Bundle, admin_id: int, **options) -> ImportPlan:
    """Plan a bundle, insist it has no errors, apply it and commit."""
    planned = plan_bundle(bundle, admin_id, **options)
    assert planned.errors == [], planned.errors
    apply_plan(planned, actor=db.session.get(User, admin_id))
    db.session.commit()
    return planned
