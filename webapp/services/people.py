"""Finding people among tens of thousands, and acting on a selection of them.

A view of people is a `PeopleFilter`, read from and written to the URL, so it can be
bookmarked and shared. A selection is the filter plus either explicit ids or "all
matching": it travels as the filter, never as thousands of ids, and is resolved under the
admin's scope at the moment the action is confirmed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from webapp.delivery import batches
from webapp.extensions import db
from webapp.jobs import job
from webapp.models import (
    AccountState,
    Delivery,
    DeliveryStatus,
    Enrollment,
    GuardianLink,
    Role,
    User,
    user_schools,
    utcnow,
)
from webapp.models.base import new_epoch
from webapp.models.search import SEARCHED, SHORTEST_INDEXED_WORD, users_search
from webapp.services import audit, scope, settings
from webapp.services.accounts import STATE_SQL, in_state

PER_PAGE = 50
COUNT_UP_TO = 1_000
ROLES = (Role.STUDENT, Role.PARENT, Role.TEACHER, Role.STAFF)


class Problem(enum.StrEnum):
    LAST_FAILED = "last_failed"
    NO_EMAIL = "no_email"
    NO_PHONE = "no_phone"


class Sort(enum.StrEnum):
    NAME = "name"
    USERNAME = "username"
    ROLE = "role"
    STATE = "state"
    LAST_SIGN_IN = "last_sign_in"


_ORDER = {
    Sort.NAME: (User.family_name, User.given_name),
    Sort.USERNAME: (User.username,),
    Sort.ROLE: (User.role, User.family_name),
    Sort.STATE: (STATE_SQL, User.family_name),
    Sort.LAST_SIGN_IN: (User.last_login_at, User.family_name),
}


@dataclass(frozen=True)
class PeopleFilter:
    q: str = ""
    role: Role | None = None
    school_id: int | None = None
    class_id: int | None = None
    grade: str = ""
    state: AccountState | None = None
    problem: Problem | None = None
    parent_linked: bool | None = None  # students with (True) or without (False) a parent
    sent_before: date | None = None
    sort: Sort = Sort.NAME
    descending: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> PeopleFilter:
        """Read a filter from a query string; values that mean nothing are ignored."""
        linked = {"yes": True, "no": False}.get(args.get("parent_linked", ""))
        return cls(
            q=(args.get("q") or "").strip()[:100],
            role=_enum(Role, args.get("role")),
            school_id=_int(args.get("school_id")),
            class_id=_int(args.get("class_id")),
            grade=(args.get("grade") or "").strip()[:10],
            state=_enum(AccountState, args.get("state")),
            problem=_enum(Problem, args.get("problem")),
            parent_linked=linked,
            sent_before=_date(args.get("sent_before")),
            sort=_enum(Sort, args.get("sort")) or Sort.NAME,
            descending=args.get("dir") == "desc",
        )

    def to_args(self, **changes: Any) -> dict[str, str]:
        """The query string for this filter (with changes), leaving defaults out."""
        values = {**asdict(self), **changes}
        args = {}
        for key, value in values.items():
            if value is None or value == "" or (key == "descending" and not value):
                continue
            if key == "sort" and value == Sort.NAME:
                continue
            if key == "descending":
                args["dir"] = "desc"
            elif key == "parent_linked":
                args[key] = "yes" if value else "no"
            else:
                args[key] = str(value.value if isinstance(value, enum.Enum) else value)
        return args


def _enum(kind: type[enum.StrEnum], value: str | None) -> Any:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def matching(actor: User, filters: PeopleFilter) -> Select[tuple[User]]:
    """The people the actor may see that the filter chooses (admins excluded)."""
    query = scope.visible_users(actor).where(User.role.in_(ROLES))
    if filters.q:
        query = query.where(*_contains_words(filters.q.split()[:5]))
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.school_id is not None:
        members = select(user_schools.c.user_id).where(
            user_schools.c.school_id == filters.school_id
        )
        query = query.where(User.id.in_(members))
    if filters.class_id is not None:
        members = select(Enrollment.user_id).where(Enrollment.class_id == filters.class_id)
        query = query.where(User.id.in_(members))
    if filters.grade:
        query = query.where(User.grade == filters.grade)
    if filters.state:
        query = query.where(in_state(filters.state))
    if filters.problem:
        query = query.where(_problem(filters.problem))
    if filters.parent_linked is not None:
        linked = exists().where(GuardianLink.student_id == User.id)
        query = query.where(User.role == Role.STUDENT, linked if filters.parent_linked else ~linked)
    if filters.sent_before:
        moment = datetime.combine(filters.sent_before, time(), settings.zone(filters.school_id))
        last_sent = (
            select(func.max(Delivery.sent_at))
            .where(Delivery.user_id == User.id, Delivery.status == DeliveryStatus.SENT)
            .scalar_subquery()
        )
        query = query.where(last_sent < moment)
    return query


def _contains_words(words: list[str]) -> list[ColumnElement[bool]]:
    """Each word appears in a name, the username, the email or the student number.

    SQLite answers words of three or more characters from the trigram index (FTS5, case
    folded); PostgreSQL answers ILIKE from its pg_trgm indexes (models/search.py). Shorter
    words, and databases without the index, read the rows.
    """
    indexed = [w for w in words if len(w) >= SHORTEST_INDEXED_WORD]
    if db.session.get_bind().dialect.name != "sqlite" or not indexed:
        return [_contains(word) for word in words]
    # One FTS5 query: every quoted word must appear somewhere in the person's row.
    phrases = " ".join('"' + word.replace('"', '""') + '"' for word in indexed)
    found = select(users_search.c.rowid).where(users_search.c.users_search.op("MATCH")(phrases))
    short = [_contains(w) for w in words if len(w) < SHORTEST_INDEXED_WORD]
    return [User.id.in_(found), *short]


def _contains(word: str) -> ColumnElement[bool]:
    like = f"%{_escape(word)}%"
    return or_(*(getattr(User, column).ilike(like, escape="\\") for column in SEARCHED))


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _problem(problem: Problem):
    if problem is Problem.NO_EMAIL:
        return or_(User.email.is_(None), User.email == "")
    if problem is Problem.NO_PHONE:
        return or_(User.phone.is_(None), User.phone == "")
    # A failed delivery with no later one for that person.
    later = aliased(Delivery)
    newer = exists().where(later.user_id == Delivery.user_id, later.id > Delivery.id)
    return exists().where(
        Delivery.user_id == User.id, Delivery.status == DeliveryStatus.FAILED, ~newer
    )


@dataclass(frozen=True)
class PeoplePage:
    people: list[User]
    total: int
    page_no: int
    pages: int
    filters: PeopleFilter = field(default_factory=PeopleFilter)
    more: bool = False  # more than `total` match (counting stopped there)

    @property
    def matching(self) -> str:
        """How many match, as people read it: "312" or "2,000+"."""
        return f"{self.total:,}{'+' if self.more else ''}"


def page(actor: User, filters: PeopleFilter, page_no: int = 1) -> PeoplePage:
    """One page of the matching people, in the filter's order, and how many match."""
    query = matching(actor, filters)
    # Counting stops at COUNT_UP_TO: "2,000+ people match" needs no scan of the rest.
    capped = query.with_only_columns(User.id).order_by(None).limit(COUNT_UP_TO + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(capped))
    more = total > COUNT_UP_TO
    total = min(total, COUNT_UP_TO)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page_no = min(max(page_no, 1), pages)
    columns = _ORDER[filters.sort]
    order = [c.desc() if filters.descending else c.asc() for c in columns]
    # Sort ids only, then load the page's 50 people: sorting whole rows costs far more.
    ids = db.session.scalars(
        query.with_only_columns(User.id)
        .order_by(*order, User.id)
        .offset((page_no - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    by_id = {p.id: p for p in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return PeoplePage([by_id[i] for i in ids], total, page_no, pages, filters, more)


@dataclass(frozen=True)
class Selection:
    """What an admin selected: explicit ids within the filter, or everyone matching it."""

    filters: PeopleFilter
    ids: tuple[int, ...] = ()
    all_matching: bool = False

    def resolve(self, actor: User) -> list[int]:
        """The selected people's ids, under the actor's scope now (NotAllowed if an explicit
        id lies outside it)."""
        query = matching(actor, self.filters).with_only_columns(User.id).order_by(User.id)
        if not self.all_matching:
            if not self.ids:
                return []
            # Ids of people outside the actor's scope refuse the whole request (DESIGN.md);
            # ids the filter no longer matches (it changed since) are just left out.
            scope.require_user_ids(actor, self.ids)
            query = query.where(User.id.in_(self.ids))
        return list(db.session.scalars(query))


def set_active(actor: User, user_ids: list[int], active: bool) -> int:
    """Deactivate (or reactivate) these people; audited per person, the caller commits.

    Deactivating rotates the credential epoch, so their sessions, links and temporary
    passwords stop working at once. Returns how many changed.
    """
    ids = scope.require_user_ids(actor, user_ids)
    now = utcnow()
    changing = User.deactivated_at.is_(None) if not active else User.deactivated_at.is_not(None)
    changed = list(db.session.scalars(select(User.id).where(and_(User.id.in_(ids), changing))))
    if not changed:
        return 0
    values = {"deactivated_at": None} if active else {"deactivated_at": now}
    db.session.execute(
        update(User),
        [{"id": uid, "credential_epoch": new_epoch(), **values} for uid in changed],
    )
    action = "account_reactivated" if active else "account_deactivated"
    audit.record_events(
        actor, (audit.Event(action, "user", uid, {"by": "console"}) for uid in changed)
    )
    return len(changed)


@job
def send_to_selection(
    actor_id: int,
    kind: str,
    channel: str,
    view: str,
    ids: str,
    all_matching: bool,
    key: str,
    include_active: bool,
) -> int | None:
    """The job behind a bulk send: resolve the selection now, under the admin's scope, and
    create its batch (whose own job then sends). The page waits for the batch by `key`.

    The selection arrives as the filter's query string and comma-separated ids, never as
    loaded people: a request that picks 50,000 people costs no more than one that picks 5.
    """
    actor = db.session.get(User, actor_id)
    if actor is None or actor.deactivated_at is not None or actor.role != Role.ADMIN:
        return None
    filters = PeopleFilter.from_args(dict(parse_qsl(view)))
    chosen = tuple(int(i) for i in ids.split(",") if i.isdigit())
    user_ids = Selection(filters, chosen, all_matching).resolve(actor)
    options = {"idempotency_key": key, "include_active": include_active}
    batch = batches.send_credentials(user_ids, kind, channel, options, actor)
    db.session.commit()
    return batch.id


def missing_contacts(actor: User, role: Role | None, school_id: int | None, limit: int = 200):
    """People with no email or no phone (of a role, at a school), for filling in by hand."""
    filters = PeopleFilter(role=role, school_id=school_id)
    query = matching(actor, filters).where(
        or_(User.email.is_(None), User.email == "", User.phone.is_(None), User.phone == ""),
        User.deactivated_at.is_(None),
    )
    total = db.session.scalar(query.with_only_columns(func.count(User.id)).order_by(None))
    rows = db.session.scalars(
        query.order_by(User.family_name, User.given_name, User.id).limit(limit)
    ).all()
    return list(rows), total
