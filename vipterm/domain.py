"""Domain vocabulary shared by every layer: enums, value rules and small pure helpers.

Nothing here touches the database or the screen. Enum values are the strings stored in the
database and carried in sync bundles, so they never change once released; labels are what
people read.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Self, TypeVar

from vipterm.errors import ValidationError


class LabelledEnum(str, enum.Enum):
    """A string enum whose members carry a human label."""

    label: str  # set per member in __new__ (an annotation only: not a member)

    def __new__(cls, value: str, label: str | None = None) -> LabelledEnum:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label or value.replace("_", " ")
        return obj

    def __str__(self) -> str:  # f-strings and CSV show the stored value
        return str.__str__(self)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Match a value or label case-insensitively; raise ValueError listing what is accepted."""
        key = text.strip().lower().replace("-", "_")
        for member in cls:
            if key in (member.value, member.label.lower(), member.label.lower().replace(" ", "_")):
                return member
        accepted = ", ".join(m.value for m in cls)
        raise ValueError(f"{text!r} is not one of: {accepted}")

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """(label, value) pairs in declaration order, the shape Textual's Select takes."""
        return [(m.label, m.value) for m in cls]

    @classmethod
    def label_of(cls, value: object, unknown: str | None = None) -> str:
        """The label of a stored value: the one way a screen or a report shows one. A value this
        vipterm does not know (a newer vipterm's, synced in) shows as itself, or as `unknown`
        when given; None and "" show as `unknown` or ""."""
        if value is None or value == "":
            return unknown or ""
        try:
            return cls(str(value)).label
        except ValueError:
            return str(value) if unknown is None else unknown


E = TypeVar("E", bound=LabelledEnum)


class Role(LabelledEnum):
    WORKER = ("worker", "peer support worker")
    COORDINATOR = ("coordinator", "coordinator")


class AreaCommand(LabelledEnum):
    """The police area commands the monthly report counts notifications by."""

    SOUTHEAST = ("southeast", "Southeast")
    NORTHEAST = ("northeast", "Northeast")
    NORTHWEST = ("northwest", "Northwest")
    FOOTHILLS = ("foothills", "Foothills")
    SOUTHWEST = ("southwest", "Southwest")
    VALLEY = ("valley", "Valley")
    NA = ("na", "N/A")


class AgeGroup(LabelledEnum):
    UNDER_18 = ("under_18", "under 18")
    AGE_18_24 = ("18_24", "18–24")
    AGE_25_29 = ("25_29", "25–29")
    AGE_30_PLUS = ("30_plus", "30 and over")
    UNKNOWN = ("unknown", "unknown")


class ReferralSource(LabelledEnum):
    """How a client came to the program."""

    SHOOTING_REVIEW = ("shooting_review", "shooting review")
    CRIME_DATA = ("crime_data", "crime data")
    HOSPITAL = ("hospital", "hospital")
    COMMUNITY = ("community", "community")
    SELF = ("self", "self")
    OTHER = ("other", "other")


class ClientStatus(LabelledEnum):
    """The program funnel, in order."""

    IDENTIFIED = ("identified", "identified")
    NOTIFICATION_ATTEMPTED = ("notification_attempted", "notification attempted")
    NOTIFIED = ("notified", "notified")
    ENGAGED = ("engaged", "engaged")
    ACTIVE = ("active", "active")
    INACTIVE = ("inactive", "inactive")
    CLOSED = ("closed", "closed")


FUNNEL_ORDER = {status: rank for rank, status in enumerate(ClientStatus)}


class ClosedReason(LabelledEnum):
    """Why a client was closed (kept with the client until it is reopened)."""

    COMPLETED = ("completed", "completed the program")
    MOVED_AWAY = ("moved_away", "moved away")
    INCARCERATED = ("incarcerated", "incarcerated")
    DECEASED = ("deceased", "deceased")
    DECLINED = ("declined", "declined services")
    LOST_CONTACT = ("lost_contact", "lost contact")


class CorrectableFact(LabelledEnum):
    """The add-only facts a correction may supersede or void (`FactCorrection.tbl`)."""

    CONTACT = ("contact", "contact")
    NOTIFICATION_ATTEMPT = ("notification_attempt", "notification attempt")
    OUTCOME = ("outcome", "outcome")
    REFERRAL_EVENT = ("referral_event", "referral status change")


class RiskFlag(LabelledEnum):
    RETALIATION_RISK = ("retaliation_risk", "retaliation risk")
    RECENT_GUNSHOT_VICTIM = ("recent_gunshot_victim", "recent gunshot victim")
    GROUP_INVOLVED = ("group_involved", "group involved")
    ON_SUPERVISION = ("on_supervision", "on probation/parole")
    UNSTABLE_HOUSING = ("unstable_housing", "unstable housing")
    MINOR_IN_HOME = ("minor_in_home", "minor in home")


class NotificationSetting(LabelledEnum):
    HOME = ("home", "home")
    HOSPITAL = ("hospital", "hospital")
    JAIL = ("jail", "jail")
    COMMUNITY = ("community", "community")
    OFFICE = ("office", "program office")
    OTHER = ("other", "other")


class NotificationOutcome(LabelledEnum):
    DELIVERED = ("delivered", "delivered")
    REFUSED = ("refused", "refused")
    NOT_FOUND = ("not_found", "not found")
    IN_CUSTODY = ("in_custody", "in custody")
    DEFERRED = ("deferred", "deferred")


class TeamRole(LabelledEnum):
    PEER_SUPPORT = ("peer_support", "peer support worker")
    POLICE = ("police", "police officer")
    COMMUNITY_LEADER = ("community_leader", "community leader")
    CLERGY = ("clergy", "clergy")
    SERVICE_PROVIDER = ("service_provider", "service provider")
    OTHER = ("other", "other")


class NotificationMessage(LabelledEnum):
    """Messages a custom notification can deliver."""

    COMMUNITY_CARES = ("community_cares", "the community cares")
    RISK_OF_HARM = ("risk_of_harm", "risk of being harmed")
    LEGAL_CONSEQUENCES = ("legal_consequences", "consequences of further violence")
    OFFER_OF_HELP = ("offer_of_help", "offer of help and services")
    PEER_CONTACT = ("peer_contact", "how to reach a peer support worker")


class IncidentSource(LabelledEnum):
    """Where the weekly review learned of an incident (seed 003: crime data, hospitals, others)."""

    SHOOTING_REVIEW = ("shooting_review", "shooting review")
    CRIME_DATA = ("crime_data", "crime data")
    HOSPITAL = ("hospital", "hospital")
    COMMUNITY = ("community", "community")


class PlanStatus(LabelledEnum):
    """A planned custom notification: still planned, or called off by the coordinator. Whether it
    was attempted is not stored: it is read from the client's notification attempts."""

    PLANNED = ("planned", "planned")
    CANCELLED = ("cancelled", "called off")


class ContactMode(LabelledEnum):
    IN_PERSON = ("in_person", "in person")
    PHONE = ("phone", "phone")
    TEXT = ("text", "text")
    VIA_FAMILY = ("via_family", "via family")


class ContactPurpose(LabelledEnum):
    CHECK_IN = ("check_in", "check-in")
    NEEDS = ("needs", "needs assessment")
    REFERRAL = ("referral", "referral follow-up")
    CRISIS = ("crisis", "crisis support")
    TRANSPORT = ("transport", "transport")
    COURT = ("court", "court support")
    OTHER = ("other", "other")


class ContactOutcome(LabelledEnum):
    REACHED = ("reached", "reached")
    NO_ANSWER = ("no_answer", "no answer")
    VOICEMAIL = ("voicemail", "left voicemail")
    WRONG_NUMBER = ("wrong_number", "wrong number")
    REFUSED = ("refused", "refused")
    UNSAFE = ("unsafe", "unsafe / aborted")


# Only a contact that reached the client closes a due follow-up or counts as "reached" in the
# report; every other outcome is an attempt. The one-key attempt log offers these.
ATTEMPT_OUTCOMES = (
    ContactOutcome.NO_ANSWER,
    ContactOutcome.VOICEMAIL,
    ContactOutcome.WRONG_NUMBER,
    ContactOutcome.REFUSED,
)


class AssessmentKind(LabelledEnum):
    INTAKE = ("intake", "intake")
    NINETY_DAY = ("ninety_day", "90-day")
    EXIT = ("exit", "exit")


class NeedDomain(LabelledEnum):
    HOUSING = ("housing", "housing")
    FOOD = ("food", "food")
    INCOME = ("income", "income / benefits")
    EMPLOYMENT = ("employment", "employment")
    EDUCATION = ("education", "education")
    ID_DOCUMENTS = ("id_documents", "ID documents")
    TRANSPORTATION = ("transportation", "transportation")
    PHYSICAL = ("physical", "physical recovery")
    MENTAL_HEALTH = ("mental_health", "mental health")
    SUBSTANCE_USE = ("substance_use", "substance use")
    LEGAL = ("legal", "legal / court")
    FAMILY = ("family", "family / childcare")
    SAFETY = ("safety", "safety / retaliation")


NEED_LEVELS = {0: "no need", 1: "low", 2: "moderate", 3: "urgent"}


class ServiceCategory(LabelledEnum):
    """Categories of the service directory; the report's 'services connected to'."""

    SHELTER = ("shelter", "shelter")
    RENTAL_ASSISTANCE = ("rental_assistance", "rental assistance")
    FOOD = ("food", "food boxes")
    BENEFITS = ("benefits", "income / benefits")
    JOB_TRAINING = ("job_training", "job training / employment")
    EDUCATION = ("education", "education / GED")
    ID_DOCUMENTS = ("id_documents", "ID documents")
    TRANSPORTATION = ("transportation", "transportation")
    MEDICAL = ("medical", "medical care")
    MENTAL_HEALTH = ("mental_health", "mental health")
    SUBSTANCE_USE = ("substance_use", "substance use treatment")
    LEGAL = ("legal", "legal help")
    FAMILY = ("family", "family / childcare")
    RELOCATION = ("relocation", "safety relocation")


# Which directory categories serve which need; the referral picker offers these first.
CATEGORIES_FOR_NEED: dict[NeedDomain, tuple[ServiceCategory, ...]] = {
    NeedDomain.HOUSING: (ServiceCategory.SHELTER, ServiceCategory.RENTAL_ASSISTANCE),
    NeedDomain.FOOD: (ServiceCategory.FOOD,),
    NeedDomain.INCOME: (ServiceCategory.BENEFITS,),
    NeedDomain.EMPLOYMENT: (ServiceCategory.JOB_TRAINING,),
    NeedDomain.EDUCATION: (ServiceCategory.EDUCATION,),
    NeedDomain.ID_DOCUMENTS: (ServiceCategory.ID_DOCUMENTS,),
    NeedDomain.TRANSPORTATION: (ServiceCategory.TRANSPORTATION,),
    NeedDomain.PHYSICAL: (ServiceCategory.MEDICAL,),
    NeedDomain.MENTAL_HEALTH: (ServiceCategory.MENTAL_HEALTH,),
    NeedDomain.SUBSTANCE_USE: (ServiceCategory.SUBSTANCE_USE,),
    NeedDomain.LEGAL: (ServiceCategory.LEGAL,),
    NeedDomain.FAMILY: (ServiceCategory.FAMILY,),
    NeedDomain.SAFETY: (ServiceCategory.RELOCATION,),
}


class ReferralStatus(LabelledEnum):
    DRAFT = ("draft", "draft")
    SENT = ("sent", "sent")
    ACCEPTED = ("accepted", "accepted")
    REJECTED = ("rejected", "rejected")
    IN_PROGRESS = ("in_progress", "in progress")
    ON_HOLD = ("on_hold", "on hold")
    COMPLETED = ("completed", "completed")
    FAILED = ("failed", "failed")
    CANCELLED = ("cancelled", "cancelled")


# draft → sent → accepted|rejected → in progress ⇄ on hold → completed|failed|cancelled.
# Cancelling is allowed from any open state: a client can withdraw at any point.
REFERRAL_TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.DRAFT: frozenset({ReferralStatus.SENT, ReferralStatus.CANCELLED}),
    ReferralStatus.SENT: frozenset({ReferralStatus.ACCEPTED, ReferralStatus.REJECTED, ReferralStatus.CANCELLED}),
    ReferralStatus.ACCEPTED: frozenset(
        {
            ReferralStatus.IN_PROGRESS,
            ReferralStatus.ON_HOLD,
            ReferralStatus.COMPLETED,
            ReferralStatus.FAILED,
            ReferralStatus.CANCELLED,
        }
    ),
    ReferralStatus.IN_PROGRESS: frozenset(
        {ReferralStatus.ON_HOLD, ReferralStatus.COMPLETED, ReferralStatus.FAILED, ReferralStatus.CANCELLED}
    ),
    ReferralStatus.ON_HOLD: frozenset({ReferralStatus.IN_PROGRESS, ReferralStatus.FAILED, ReferralStatus.CANCELLED}),
    ReferralStatus.REJECTED: frozenset(),
    ReferralStatus.COMPLETED: frozenset(),
    ReferralStatus.FAILED: frozenset(),
    ReferralStatus.CANCELLED: frozenset(),
}

OPEN_REFERRAL_STATUSES = frozenset(
    {
        ReferralStatus.DRAFT,
        ReferralStatus.SENT,
        ReferralStatus.ACCEPTED,
        ReferralStatus.IN_PROGRESS,
        ReferralStatus.ON_HOLD,
    }
)
# "Engaged" (docs/metrics.md): at least one referral that reached one of these.
ENGAGED_REFERRAL_STATUSES = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED})
# A referral with no status change for this long is flagged as stale.
STALE_REFERRAL_DAYS = 14


class ConsentKind(LabelledEnum):
    """What a client may consent to (a consent record, schema 8)."""

    SERVICES = ("services", "program services")
    SHARE_PROVIDER = ("share_provider", "sharing with a provider")  # names the provider
    MEDIA = ("media", "photos / media")
    TEXT_CONTACT = ("text_contact", "contact by text")


class ConsentMethod(LabelledEnum):
    """How consent was given. Sharing identifying information needs it written."""

    WRITTEN = ("written", "written")
    VERBAL = ("verbal", "verbal")


# The day a safety plan's review falls due when none is set: a plan is reviewed at least monthly.
SAFETY_PLAN_REVIEW_DAYS = 30


class OutcomeKind(LabelledEnum):
    RE_ARREST = ("re_arrest", "re-arrest")
    RE_VICTIMIZATION = ("re_victimization", "re-victimization")
    RE_INJURY = ("re_injury", "re-injury")
    INCARCERATION = ("incarceration", "incarceration")
    JOB = ("job", "job")
    SCHOOL = ("school", "school")
    HOUSING = ("housing", "housing")


class OutcomeSource(LabelledEnum):
    SELF_REPORT = ("self_report", "client self-report")
    POLICE_RECORD = ("police_record", "police record")
    COURT_RECORD = ("court_record", "court record")
    HOSPITAL = ("hospital", "hospital")
    WORKER = ("worker", "worker observation")
    FAMILY = ("family", "family")


class FollowUpKind(LabelledEnum):
    CONTACT = ("contact", "contact")
    REFERRAL_CHECK = ("referral_check", "referral check")
    ASSESSMENT = ("assessment", "assessment due")
    COURT_DATE = ("court_date", "court date")
    APPOINTMENT = ("appointment", "appointment")
    OTHER = ("other", "other")


class FollowUpClosed(LabelledEnum):
    """How a follow-up was closed (kept with it, so "done" is never ambiguous)."""

    CONTACT = ("contact", "a contact reached the client")
    NO_CONTACT = ("no_contact", "done without a contact")
    REPLACED = ("replaced", "replaced by a newer automatic follow-up")


# A delivered custom notification schedules the first peer-support contact this many days later.
FIRST_FOLLOW_UP_DAYS = 2


class AuditAction(LabelledEnum):
    """What an audit entry records (services/audit.py). New values only ever append: a
    coordinator refuses an action it does not know (sync/validate.py)."""

    VIEW_IDENTITY = ("view_identity", "viewed identity")
    EXPORT = ("export", "exported data")
    UNMASK = ("unmask", "showed names on screen")
    SUBJECT_EXPORT = ("subject_export", "exported a client's own record")
    BACKUP = ("backup", "took a backup")
    RESTORE = ("restore", "restored a backup")
    ROOT_EXPORT = ("root_export", "exported the program's root key")
    ENROLL = ("enroll", "enrolled a device")
    REVOKE = ("revoke", "revoked a device")
    REASSIGN = ("reassign", "reassigned a client")
    PURGE = ("purge", "purged records")
    QUARANTINE = ("quarantine", "decided a held change")


# --- value rules -------------------------------------------------------------------------


def enum_for_field(enum_cls: type[E], value: object, field_name: str) -> E:
    """The member `value` names (a member, a stored value or a label), or a ValidationError for
    `field_name` listing what is accepted: the one enum rule the services and forms share."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls.parse(str(value))
    except ValueError as exc:
        raise ValidationError(str(exc), field=field_name) from None


def utcnow() -> datetime:
    """Naive UTC: how timestamps are stored (SQLite keeps no zone). Use cases read `store.clock`
    instead (it knows the program's time zone); both read the one clock in `vipterm.timekeeping`."""
    from vipterm.timekeeping import system_now

    return system_now().astimezone(UTC).replace(tzinfo=None, microsecond=0)


def age_group_for(date_of_birth: date | None, on: date) -> AgeGroup:
    """The report's age group of someone born on `date_of_birth`, as of `on`."""
    if date_of_birth is None:
        return AgeGroup.UNKNOWN
    years = on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    if years < 18:
        return AgeGroup.UNDER_18
    if years <= 24:
        return AgeGroup.AGE_18_24
    if years <= 29:
        return AgeGroup.AGE_25_29
    return AgeGroup.AGE_30_PLUS


def fiscal_year_start(day: date) -> date:
    """The fiscal year starts on 1 July."""
    return date(day.year if day.month >= 7 else day.year - 1, 7, 1)


def initials(name: str) -> str:
    """'Marcus J. Baca' -> 'M.J.B.'; used by the privacy mask. Only letters and digits become
    initials: a part that starts with an emoji or a quote shows its first letter, or nothing."""
    letters = (next((ch for ch in part if ch.isalnum()), "") for part in name.replace("-", " ").split())
    return "".join(ch.upper() + "." for ch in letters if ch) or "—"


MASK = "•••"  # what the privacy mask shows instead of an alias or a note


def masked_name(name: str) -> str:
    """A display name ('José Núñez “Güero”', see `services.caseload.display_name`) as the privacy
    mask shows it: the initials of the name, and the alias never ('J.N. •••'), not even its
    first letter or emoji. Everything from the first opening quote on counts as the alias."""
    person, quote, _alias = name.partition("“")
    shown = initials(person) if person.strip() else ""
    if quote:
        return f"{shown} {MASK}" if shown and shown != "—" else MASK
    return shown or "—"


# Letters NFKD does not split into a base letter and a mark, folded the way people type them.
_FOLD_EXTRA = {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
_EXTRA = re.compile("[" + "".join(_FOLD_EXTRA) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # beyond the marks pattern: checked one by one
_MARKS: re.Pattern[str] | None = None


def _marks() -> re.Pattern[str]:
    # Built once, on first use: one character class of every combining mark of the Basic
    # Multilingual Plane, so dropping them is one regex substitution in C (a caseload of 20k
    # rows folds in tens of milliseconds, not most of a second).
    global _MARKS
    if _MARKS is None:
        ranges, start = [], None
        for i in range(0x300, 0x10001):
            mark = i < 0x10000 and unicodedata.combining(chr(i)) != 0
            if mark and start is None:
                start = i
            elif not mark and start is not None:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(i - 1))}")
                start = None
        _MARKS = re.compile("[" + "".join(ranges) + "]")
    return _MARKS


def fold(text: str) -> str:
    """Text reduced for matching: case and accents dropped, so 'Núñez', 'NUNEZ' and 'nunez' agree.

    Casefold first (so 'İ' and 'ß' fold fully), then NFKD to split accented letters into a base
    letter and combining marks, and drop the marks. Every search and duplicate check compares
    `fold(a)` with `fold(b)`; it is for matching only, never for display or storage.
    """
    if text.isascii():
        return text.lower()  # the same as the long way for ASCII, and most names are
    folded = _marks().sub("", unicodedata.normalize("NFKD", text.casefold()))
    if _EXTRA.search(folded):
        folded = _EXTRA.sub(lambda m: _FOLD_EXTRA[m.group()], folded)
    if _ASTRAL.search(folded):  # marks beyond the Basic Multilingual Plane (rare scripts)
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded


def can_transition(current: ReferralStatus, new: ReferralStatus) -> bool:
    return new in REFERRAL_TRANSITIONS[current]
