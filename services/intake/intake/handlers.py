"""intake's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from gridlink.contracts import Envelope
from intake.adapters.repository import IntakeUnitOfWork, RequestQuery
from intake.domain.classification import assess_urgency, classify
from intake.domain.commands import ReceiveAlarm, SubmitReport
from intake.domain.duplicates import find_original
from intake.domain.errors import OutsideScope, ReportNotFound, TrackingCodeTaken, UnknownCategory
from intake.domain.iot import Device, folds_into
from intake.domain.model import Classification, Report, Reporter
from intake.domain.open311 import StatusChange, check_attributes, progress_after, status_change
from intake.domain.placement import IntakeReference, place


@dataclass(frozen=True)
class Submitted:
    """The stored report, and the open original it was linked to when it was a duplicate."""

    report: Report
    original: Report | None = None

    @property
    def answer(self) -> Report:
        """The report the caller should track: the original for a duplicate."""
        return self.original or self.report


log = logging.getLogger(__name__)
T = TypeVar("T")

# A day has 32^6 (about 10^9) tracking codes: at tens of thousands of reports a day two may draw the same one (the
# bench met it once in about 15,000). The database's unique key refuses the second; its whole unit of work is
# rolled back and done again with a new code, so the resident never sees the clash.
TRACKING_CODE_ATTEMPTS = 3


def submit_report(
    uow: IntakeUnitOfWork, ref: IntakeReference, cmd: SubmitReport, now: datetime | None = None
) -> Submitted:
    now = now or datetime.now(UTC)
    return _drawing_codes(partial(_submit, uow, ref, cmd, now))


def _submit(uow: IntakeUnitOfWork, ref: IntakeReference, cmd: SubmitReport, now: datetime) -> Submitted:
    report = _build(ref, cmd, now)
    with uow:
        submitted = _store(uow, ref, report, now, cmd.link_duplicates)
        uow.commit()
    return submitted


def _drawing_codes(work: Callable[[], T]) -> T:
    """`work()`, done again from the start while a tracking code it drew was already taken (it draws new ones)."""
    attempt = 1
    while True:
        try:
            return work()
        except TrackingCodeTaken:
            if attempt == TRACKING_CODE_ATTEMPTS:
                raise
            attempt += 1
            log.warning("a tracking code drawn was already taken; done again with new ones")


def _build(ref: IntakeReference, cmd: SubmitReport, now: datetime) -> Report:
    category, classification = _categorise(ref, cmd)
    attributes = (
        check_attributes(ref.attributes.get(category.code, []), cmd.attributes) if cmd.attributes is not None else {}
    )
    placement = place(ref, lat=cmd.lat, long=cmd.long, address_id=cmd.address_id, address=cmd.address)
    if cmd.scope_unit is not None and not placement.grid_code.startswith(cmd.scope_unit):
        raise OutsideScope(f"grid {placement.grid_code} is outside your unit {cmd.scope_unit}")
    return Report.accept(
        channel=cmd.channel,
        category=category,
        description=cmd.description,
        placement=placement,
        now=now,
        reporter=cmd.reporter or Reporter(name=cmd.reporter_name, phone=cmd.reporter_phone),
        classification=classification,
        urgency=assess_urgency(ref.rules, category.urgency, cmd.description, cmd.urgency),
        media_urls=cmd.media_urls,
        involved=cmd.involved,
        attributes=attributes,
        client=cmd.client,
    )


def _store(
    uow: IntakeUnitOfWork, ref: IntakeReference, report: Report, now: datetime, link_duplicates: bool = True
) -> Submitted:
    """Within the caller's transaction: link a duplicate to its open original, store, and publish."""
    original = _original_of(uow, ref, report, now) if link_duplicates else None
    if original is not None:
        report.merge_into(original)
        uow.reports.save_counts(original)
    uow.reports.add(report)
    _publish(uow, report)
    return Submitted(report, original)


def _categorise(ref: IntakeReference, cmd: SubmitReport):
    if cmd.category_code:
        category = ref.categories.get(cmd.category_code)
        if category is None:
            raise UnknownCategory(f"category {cmd.category_code!r} is not in the taxonomy")
        return category, None
    classification = classify(ref.rules, cmd.description)
    return ref.categories[classification.category_code], classification


def _original_of(uow: IntakeUnitOfWork, ref: IntakeReference, report: Report, now: datetime) -> Report | None:
    rule = ref.duplicates.for_category(report.category_code)
    if rule is None or rule.radius_m <= 0:
        return None
    p = report.placement
    candidates = uow.reports.open_originals(report.category_code, p.lat, p.long, rule.radius_m, now - rule.window)
    found = find_original(rule, p.lat, p.long, now, candidates)
    return uow.reports.get(found.report_id) if found else None


def _publish(uow: IntakeUnitOfWork, report: Report) -> None:
    for event_type, payload in report.events:
        # The report is where the whole chain starts, so its id is the correlation_id of everything it causes.
        uow.publish(event_type, payload, correlation_id=report.report_id)


@dataclass(frozen=True)
class AlarmOutcome:
    alarm_id: str
    outcome: str  # reported, folded or repeated (this alarm id was already received)
    report_id: str
    tracking_code: str


def receive_alarms(
    uow: IntakeUnitOfWork, ref: IntakeReference, device: Device, alarms: list[ReceiveAlarm], now: datetime | None = None
) -> list[AlarmOutcome]:
    """A device's batch, oldest first, in one transaction: each alarm opens a report or folds into the report of
    the same device and type still within its window."""
    now = now or datetime.now(UTC)
    meanings = [ref.sensors.meaning(device, alarm.alarm_type) for alarm in alarms]  # refuse the batch before writing
    return _drawing_codes(partial(_receive_alarms, uow, ref, device, alarms, meanings, now))


def _receive_alarms(
    uow: IntakeUnitOfWork,
    ref: IntakeReference,
    device: Device,
    alarms: list[ReceiveAlarm],
    meanings: list,
    now: datetime,
) -> list[AlarmOutcome]:
    outcomes: dict[str, AlarmOutcome] = {}
    with uow:
        for alarm, meaning in sorted(zip(alarms, meanings, strict=True), key=lambda pair: pair[0].occurred_at):
            seen = uow.reports.alarm(device.device_id, alarm.alarm_id)
            if seen is not None:
                report = uow.reports.get(seen)
                outcomes[alarm.alarm_id] = AlarmOutcome(alarm.alarm_id, "repeated", seen, report.tracking_code)
                continue
            previous = uow.reports.last_alarm(device.device_id, alarm.alarm_type, alarm.occurred_at)
            target = folds_into(previous, alarm.occurred_at, meaning.fold_window)
            if target is not None:
                report = uow.reports.get(target)
                report.alarm_count += 1
                uow.reports.save_counts(report)
                outcome = "folded"
            else:
                category = ref.categories[meaning.category_code]
                text = alarm.description or f"{category.name}（设备 {device.device_id} 报警：{alarm.alarm_type}）"
                report = Report.accept(
                    channel="iot",
                    category=category,
                    description=text,
                    placement=place(ref, lat=device.lat, long=device.long, address_id=None),
                    now=alarm.occurred_at,
                    classification=Classification(category.code, 1.0, False),
                    urgency=assess_urgency(ref.rules, category.urgency, text, meaning.urgency),
                    client=device.device_id,
                )
                report.alarm_count = 1
                uow.reports.add(report)
                _publish(uow, report)
                outcome = "reported"
            uow.reports.record_alarm(
                device.device_id, alarm.alarm_id, alarm.alarm_type, alarm.occurred_at, report.report_id
            )
            outcomes[alarm.alarm_id] = AlarmOutcome(alarm.alarm_id, outcome, report.report_id, report.tracking_code)
        uow.commit()
    return [outcomes[alarm.alarm_id] for alarm in alarms]


PURGE_REPORTER = "purge_reporter"


def record_case_progress(
    uow: IntakeUnitOfWork, event: Envelope, ref: IntakeReference, retention: timedelta = timedelta(days=180)
) -> None:
    """A dispatch lifecycle event, seen as the public sees it: the Open311 status and its update history.

    When the case closes, the reporter's personal data is scheduled for erasure after the retention period.
    """
    record_cases_progress(uow, [event], ref, retention)


def record_cases_progress(
    uow: IntakeUnitOfWork, events: list[Envelope], ref: IntakeReference, retention: timedelta = timedelta(days=180)
) -> None:
    """`record_case_progress` for a batch of events, in one transaction."""
    steps = []
    for event in events:
        change = status_change(event.type, event.payload, ref.unit_name(event.payload["unit_code"]))
        if change is not None:
            steps.append((event, change))
    if len(steps) == 1:
        _one_step(uow, *steps[0], retention)
    elif steps:
        _steps_together(uow, steps, retention)
    uow.commit()


def _one_step(uow: IntakeUnitOfWork, event: Envelope, change: StatusChange, retention: timedelta) -> None:
    report_id = event.payload["report_id"]
    # The update is written only for a report of ours (not another district's intake's, nor one replayed against a
    # fresh database): its insert says whether the report exists, so the status moves on only then. Two statements,
    # where a batch's way takes three.
    if uow.reports.add_update(event.event_id, report_id, change.status, change.notes, event.occurred_at):
        uow.reports.apply_status(report_id, change, event.occurred_at)
        _erase_after_closing(uow, event, retention)


def _steps_together(uow: IntakeUnitOfWork, steps: list[tuple[Envelope, StatusChange]], retention: timedelta) -> None:
    """Three statements for the batch instead of two an event: the reports' shown status read under lock (which
    also says which reports are ours), the update rows, and the new statuses."""
    shown = uow.reports.progress_of({event.payload["report_id"] for event, _ in steps})
    ours = [(event, change) for event, change in steps if event.payload["report_id"] in shown]
    if not ours:
        return
    uow.reports.add_updates(
        [
            {
                "update_id": event.event_id,
                "report_id": event.payload["report_id"],
                "status": change.status,
                "description": change.notes,
                "updated_at": event.occurred_at,
            }
            for event, change in ours
        ]
    )
    per_report: dict[str, list] = {}
    for event, change in ours:
        per_report.setdefault(event.payload["report_id"], []).append((event.occurred_at, change))
    moved = {}
    for report_id, report_steps in per_report.items():
        after = progress_after(shown[report_id], report_steps)
        if after is not None:
            moved[report_id] = after
    uow.reports.save_progress(moved)
    for event, _ in ours:
        _erase_after_closing(uow, event, retention)


def _erase_after_closing(uow: IntakeUnitOfWork, event: Envelope, retention: timedelta) -> None:
    if event.type == "case_closed":
        report_id = event.payload["report_id"]
        due = event.occurred_at + retention
        uow.schedule(PURGE_REPORTER, report_id, due, {"report_id": report_id}, correlation_id=event.correlation_id)


def purge_reporter(uow: IntakeUnitOfWork, timer) -> None:
    """Retention: erase the reporter's name and contacts; the report itself, masked, stays for the record."""
    uow.reports.anonymise_reporter(timer.payload["report_id"])
    uow.commit()


def accept_referral(uow: IntakeUnitOfWork, event: Envelope, ref: IntakeReference) -> None:
    """A partner department's referral becomes a report of the partner channel, in the consumed event's transaction."""
    p = event.payload
    cmd = SubmitReport(
        channel="partner",
        category_code=p["category_code"],
        description=p["description"],
        lat=p["lat"],
        long=p["long"],
        address=p["address"],
        reporter=Reporter(name=p["contact_name"], phone=p["contact_phone"], role=f"partner:{event.source}"),
        urgency=p["urgency"],
        client=f"{event.source}:{p['referral_id']}",
    )
    now = datetime.now(UTC)
    _store(uow, ref, _build(ref, cmd, now), now)
    uow.commit()


def get_report(uow: IntakeUnitOfWork, report_id: str) -> Report:
    with uow:
        report = uow.reports.get(report_id) or uow.reports.by_tracking_code(report_id)
    if report is None:
        raise ReportNotFound(f"no report {report_id!r}")
    return report


def find_requests(uow: IntakeUnitOfWork, query: RequestQuery) -> list[Report]:
    with uow:
        return uow.reports.search(query)


def find_updates(uow: IntakeUnitOfWork, ids: tuple[str, ...], start, end, page: int, page_size: int) -> list[dict]:
    with uow:
        return uow.reports.updates(ids, start, end, page, page_size)
