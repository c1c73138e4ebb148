"""The print flow: finish an awaiting_print batch by printing what could not be sent.

A batch waits for print when it was made on the print channel (its deliveries still
queued) or when some people had no address (deliveries skipped, "no address: print
instead"). Printing it, all or nothing, in the caller's transaction:

1. claims the batch (awaiting_print -> done, a conditional update: a second print of the
   same batch finds nothing to claim and stops);
2. issues each person's credential now, since a plain password exists only at issue time:
   a temporary password for link and password batches, a new parent code for parent-code
   batches (deactivated people are skipped instead);
3. renders the PDF (slips, or parent letters for parent codes);
4. marks those deliveries printed and audits each as delivery_printed.

Up to PRINT_JOB_THRESHOLD people this runs in the request; more run as a job
(print_batch_job) whose PDF waits encrypted for its one download (pending.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from webapp.delivery import batches, codes
from webapp.delivery.policy import Skip
from webapp.delivery.temp_passwords import issue_temporary_passwords
from webapp.extensions import db
from webapp.jobs import enqueue, job
from webapp.models import (
    BatchStatus,
    Channel,
    CredentialBatch,
    Delivery,
    DeliveryStatus,
    Kind,
    Role,
    School,
    User,
    utcnow,
)
from webapp.printing import letters, pending, slips
from webapp.printing.paper import paper_for_school
from webapp.services import audit, settings
from webapp.services.errors import NotAllowed, PolicyError

log = logging.getLogger(__name__)

# Deliveries the print flow hands over on paper.
NEEDS_PRINT = or_(
    and_(Delivery.status == DeliveryStatus.SKIPPED, Delivery.error == Skip.NO_ADDRESS),
    and_(Delivery.channel == Channel.PRINT, Delivery.status == DeliveryStatus.QUEUED),
)


@dataclass(frozen=True)
class Printed:
    batch_id: int
    pdf: bytes
    printed: int  # people on paper
    skipped: int  # people left out since the batch was planned (deactivated)


def require_printable(actor: User, batch_id: int) -> CredentialBatch:
    """Load a batch an admin may print: in their schools and still awaiting print."""
    if actor.role != Role.ADMIN:
        raise NotAllowed("printing needs an admin", "credentialbatch", batch_id)
    batch = batches.require_batch(actor, batch_id)
    if batch.status is not BatchStatus.AWAITING_PRINT:
        raise PolicyError(["This batch has nothing left to print."])
    return batch


def people_to_print(batch_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Delivery.batch_id == batch_id, NEEDS_PRINT))


def runs_as_job(people: int) -> bool:
    return people > current_app.config["PRINT_JOB_THRESHOLD"]


def print_batch(
    batch_id: int,
    actor: User,
    options: slips.SlipOptions | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Printed:
    """Issue, render and mark printed everyone the batch left for print; the caller commits.

    Any failure leaves the caller to roll back: no credential changes, the batch still waits.
    `options` sets the slip layout (parent letters are always one a page); its paper size
    is replaced by the school's setting.
    """
    now = now or utcnow()
    batch = require_printable(actor, batch_id)
    _claim(batch, now)
    rows = db.session.execute(
        select(Delivery, User)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.batch_id == batch.id, NEEDS_PRINT)
        .order_by(User.family_name, User.given_name, User.id)
    ).all()
    printable = []
    for delivery, user in rows:
        reason = _left_out(user, batch.kind)
        if reason:
            delivery.status, delivery.error = DeliveryStatus.SKIPPED, reason
        else:
            printable.append((delivery, user))
    if not printable:
        raise PolicyError(["Nobody in this batch can be printed for now."])
    school_id = batch.school_id or _first_school(printable[0][1])
    paper = paper_for_school(school_id)
    school = _school_name(batch, printable[0][1])
    zone = settings.zone(school_id)
    users = [user for _, user in printable]
    if batch.kind is Kind.PARENT_CODE:
        made = _letters(users, school, zone, actor, batch.id, now)
        pdf = letters.render_letters(made, paper, progress=progress)
    else:
        made = _slips(users, school, zone, actor, batch.id, now)
        layout = replace(options or slips.SlipOptions(), paper=paper)
        pdf = slips.render_slips(made, layout, progress=progress)
    _mark_printed(batch, [d for d, _ in printable], actor, now)
    return Printed(batch.id, pdf, len(printable), len(rows) - len(printable))


def _claim(batch: CredentialBatch, now: datetime) -> None:
    claimed = db.session.execute(
        update(CredentialBatch)
        .where(
            CredentialBatch.id == batch.id,
            CredentialBatch.status == BatchStatus.AWAITING_PRINT,
        )
        .values(status=BatchStatus.DONE, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise PolicyError(["This batch has just been printed by someone else."])
    db.session.refresh(batch)


def _left_out(user: User, kind: Kind) -> Skip | None:
    """Why someone planned for print is not printed now, or None."""
    if user.deactivated_at is not None:
        return Skip.DEACTIVATED
    if kind is Kind.PARENT_CODE and user.role != Role.STUDENT:
        return Skip.NOT_A_STUDENT
    return None


def _first_school(user: User) -> int | None:
    return min((school.id for school in user.schools), default=None)


def _school_name(batch: CredentialBatch, user: User) -> str:
    if batch.school_id is not None:
        return db.session.get(School, batch.school_id).name
    return user.schools[0].name if user.schools else current_app.config["SCHOOL_DISTRICT_NAME"]


def _slips(
    users: list[User], school: str, zone: ZoneInfo, actor: User, batch_id: int, now: datetime
) -> list[slips.Slip]:
    """Issue each a temporary password and make their slip (the scope was checked whole)."""
    issued = issue_temporary_passwords(users, actor, batch_id=batch_id, now=now, check_scope=False)
    names = {user.id: user.display_name for user in users}
    return [
        slips.make_slip(
            school, names[i.user_id], i.username, i.password, i.expires_at.astimezone(zone)
        )
        for i in issued
    ]


def _letters(
    users: list[User], school: str, zone: ZoneInfo, actor: User, batch_id: int, now: datetime
) -> list[letters.Letter]:
    """Issue each student a new parent code and make their letter."""
    made = []
    for student in users:
        issued = codes.issue_parent_code(student, actor=actor, batch_id=batch_id, now=now)
        expires = issued.expires_at.astimezone(zone)
        made.append(letters.make_letter(school, student, issued.formatted, expires))
    return made


def _mark_printed(
    batch: CredentialBatch, deliveries: list[Delivery], actor: User, now: datetime
) -> None:
    for delivery in deliveries:
        delivery.status = DeliveryStatus.PRINTED
        delivery.error = None
        delivery.sent_at = now
    audit.record_events(
        actor,
        (
            audit.Event(
                "delivery_printed",
                "user",
                delivery.user_id,
                {"batch_id": batch.id, "delivery_id": delivery.id},
            )
            for delivery in deliveries
        ),
    )
    batch.skipped = db.session.scalar(
        select(func.count()).where(
            Delivery.batch_id == batch.id, Delivery.status == DeliveryStatus.SKIPPED
        )
    )
    audit.record(actor, "batch_printed", batch, printed=len(deliveries))
    db.session.flush()


# --- large batches: a job, and a PDF that waits encrypted for its download -----------------


def start_print_job(
    batch_id: int, actor: User, options: slips.SlipOptions | None = None
) -> pending.PendingPrint:
    """Queue the print of a large batch; the caller commits (the job starts after).

    Asking again while it renders (a double click, a second tab) returns the same print.
    """
    batch = require_printable(actor, batch_id)
    running = pending.rendering_for_batch(batch.id)
    if running is not None:
        if running.requested_by_id != actor.id:
            raise PolicyError(["Someone else is printing this batch right now."])
        return running
    people = people_to_print(batch.id)
    chosen = options or slips.SlipOptions()
    layout = {"layout": chosen.layout.value, "per_page": chosen.per_page}
    record = pending.create(batch.id, actor, people, layout)
    audit.record(actor, "batch_print_queued", batch, people=people, print_id=record.id)
    enqueue(print_batch_job, record.id)
    return record


@job
def print_batch_job(print_id: str) -> str:
    """Print a batch for whoever queued it, keeping the PDF encrypted until downloaded."""
    record = pending.load(print_id)
    actor = db.session.get(User, record.requested_by_id)
    options = slips.SlipOptions(
        layout=slips.Layout(record.options["layout"]), per_page=int(record.options["per_page"])
    )

    def progress(done: int, total: int) -> None:
        record.percent = min(99, round(100 * done / total))  # 100 once the PDF is stored
        pending.save(record)

    try:
        if actor is None or actor.deactivated_at is not None:
            raise PolicyError(["The person who asked for this print can no longer sign in."])
        printed = print_batch(record.batch_id, actor, options, progress=progress)
        pending.store_pdf(record, printed.pdf)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        reason = " ".join(exc.problems) if isinstance(exc, PolicyError) else "printing failed"
        pending.mark_failed(record, reason)
        if not isinstance(exc, PolicyError | NotAllowed):
            log.exception("print job %s failed", print_id)
        return pending.PrintState.FAILED
    pending.mark_ready(record)
    return pending.PrintState.READY
