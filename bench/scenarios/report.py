"""report: one month's monthly report on the large program, vs hand-written SQL for the same tables.

Subject: `vipterm.services.report.build_report(store, month)` on an unlocked store (unlocking is
not timed), for the last whole month before the data's end date. Baseline: plain queries written
by hand, one per section of the report (areas, running success rate, age summary, services,
funnel, closed loop, time to service, after notification, contacts per worker), run with a bare
`sqlcipher3` cursor on the same encrypted file — what the report costs without its membership
framework, its drill-down-ready shape and SQLAlchemy. Some of the baseline's totals are checked
against the report's, so both sides demonstrably count the same things.
"""

from __future__ import annotations

import time
from datetime import date

from bench.core import BENCH_UNTIL, PASSPHRASE, Context, Figure, interleaved, median, size_words, unavailable

NAME = "report"
DESCRIPTION = "one month's report vs hand-written SQL for the same tables"
TARGET = "≤ 1 s and ≤ 3× hand-written SQL"

ENGAGED = "('accepted', 'in_progress', 'completed')"

# (section, SQL). Parameters: m0, m_next, m1, m2, fy (ISO dates).
HAND_WRITTEN = (
    (
        "notifications_by_area",
        """
        SELECT n.area_command,
               SUM(n.attempted_on >= :m0), SUM(n.attempted_on >= :m1 AND n.attempted_on < :m0),
               SUM(n.attempted_on >= :m2 AND n.attempted_on < :m1), SUM(n.attempted_on >= :fy)
        FROM notification_attempt n JOIN client c ON c.id = n.client_id AND c.deleted_at IS NULL
        WHERE n.deleted_at IS NULL AND n.outcome = 'delivered'
          AND n.attempted_on >= min(:m2, :fy) AND n.attempted_on < :m_next
        GROUP BY n.area_command""",
    ),
    (
        "running_success_rate",
        """
        WITH first_notified AS (
            SELECT client_id, MIN(attempted_on) AS day FROM notification_attempt
            WHERE deleted_at IS NULL AND outcome = 'delivered' AND attempted_on < :m_next GROUP BY client_id),
        first_engaged AS (
            SELECT r.client_id, MIN(e.at) AS at FROM referral_event e JOIN referral r ON r.id = e.referral_id
            WHERE e.deleted_at IS NULL AND r.deleted_at IS NULL AND e.status IN """
        + ENGAGED
        + """
              AND e.at < :m_next GROUP BY r.client_id)
        SELECT substr(n.day, 1, 7), COUNT(*), SUM(g.at IS NOT NULL)
        FROM first_notified n JOIN client c ON c.id = n.client_id AND c.deleted_at IS NULL
        LEFT JOIN first_engaged g ON g.client_id = n.client_id
        GROUP BY 1""",
    ),
    (
        "age_summary",
        """
        WITH first_notified AS (
            SELECT client_id, MIN(attempted_on) AS day FROM notification_attempt
            WHERE deleted_at IS NULL AND outcome = 'delivered' AND attempted_on < :m_next GROUP BY client_id)
        SELECT c.age_group, COUNT(*),
               SUM(EXISTS (SELECT 1 FROM referral r JOIN referral_event e ON e.referral_id = r.id
                           WHERE r.client_id = c.id AND r.deleted_at IS NULL AND e.deleted_at IS NULL
                             AND e.status IN """
        + ENGAGED
        + """ AND e.at < :m_next))
        FROM first_notified n JOIN client c ON c.id = n.client_id AND c.deleted_at IS NULL
        WHERE n.day >= :m2 AND n.day < :m1
        GROUP BY c.age_group""",
    ),
    (
        "services",
        """
        WITH connected AS (
            SELECT r.client_id, COALESCE(p.category, 'unspecified') AS category, MIN(e.at) AS at
            FROM referral r JOIN client c ON c.id = r.client_id AND c.deleted_at IS NULL
            JOIN referral_event e ON e.referral_id = r.id
            LEFT JOIN provider p ON p.id = r.provider_id
            WHERE r.deleted_at IS NULL AND e.deleted_at IS NULL AND e.status IN """
        + ENGAGED
        + """
              AND e.at < :m_next
            GROUP BY r.id)
        SELECT category, COUNT(DISTINCT CASE WHEN at >= :m0 THEN client_id END),
               COUNT(DISTINCT CASE WHEN at >= :fy THEN client_id END)
        FROM connected GROUP BY category""",
    ),
    (
        "funnel",
        """
        SELECT c.identified_on >= :fy AS in_fy, COUNT(*),
               SUM(EXISTS (SELECT 1 FROM notification_attempt n WHERE n.client_id = c.id
                           AND n.deleted_at IS NULL AND n.attempted_on < :m_next)),
               SUM(EXISTS (SELECT 1 FROM notification_attempt n WHERE n.client_id = c.id
                           AND n.deleted_at IS NULL AND n.outcome = 'delivered' AND n.attempted_on < :m_next))
        FROM client c WHERE c.deleted_at IS NULL AND c.identified_on < :m_next
        GROUP BY 1""",
    ),
    (
        "closed_loop",
        """
        WITH sent AS (
            SELECT r.id, MIN(CASE WHEN e.status = 'sent' THEN e.at END) AS sent_at,
                   MAX(e.status IN ('cancelled', 'completed', 'failed', 'rejected')) AS known
            FROM referral r JOIN client c ON c.id = r.client_id AND c.deleted_at IS NULL
            JOIN referral_event e ON e.referral_id = r.id
            WHERE r.deleted_at IS NULL AND e.deleted_at IS NULL AND e.at < :m_next GROUP BY r.id)
        SELECT sent_at >= :fy, COUNT(*), SUM(known) FROM sent WHERE sent_at IS NOT NULL GROUP BY 1""",
    ),
    (
        "time_to_service",
        """
        WITH first_notified AS (
            SELECT client_id, MIN(attempted_on) AS day FROM notification_attempt
            WHERE deleted_at IS NULL AND outcome = 'delivered' AND attempted_on < :m_next GROUP BY client_id)
        SELECT n.client_id, n.day,
               (SELECT MIN(t.occurred_at) FROM contact t WHERE t.client_id = n.client_id AND t.deleted_at IS NULL
                  AND t.outcome = 'reached' AND t.occurred_at >= n.day AND t.occurred_at < :m_next),
               (SELECT MIN(r.first_service_on) FROM referral r WHERE r.client_id = n.client_id
                  AND r.deleted_at IS NULL AND r.first_service_on >= n.day AND r.first_service_on < :m_next)
        FROM first_notified n""",
    ),
    (
        "after_notification",
        """
        WITH first_notified AS (
            SELECT client_id, MIN(attempted_on) AS day FROM notification_attempt
            WHERE deleted_at IS NULL AND outcome = 'delivered' AND attempted_on < :m_next GROUP BY client_id)
        SELECT n.day >= :fy, COUNT(DISTINCT n.client_id),
               COUNT(DISTINCT CASE WHEN o.kind = 're_arrest' THEN n.client_id END),
               COUNT(DISTINCT CASE WHEN o.kind = 're_victimization' THEN n.client_id END)
        FROM first_notified n LEFT JOIN outcome o ON o.client_id = n.client_id AND o.deleted_at IS NULL
            AND o.occurred_on > n.day AND o.occurred_on < :m_next
        GROUP BY 1""",
    ),
    (
        "contacts_per_worker",
        """
        SELECT COALESCE(t.worker_id, ''), COUNT(*), SUM(t.outcome = 'reached'), COUNT(DISTINCT t.client_id)
        FROM contact t JOIN client c ON c.id = t.client_id AND c.deleted_at IS NULL
        WHERE t.deleted_at IS NULL AND t.occurred_at >= :m0 AND t.occurred_at < :m_next
        GROUP BY 1""",
    ),
)


def report_month() -> date:
    """The last whole month before the generated data ends."""
    first = BENCH_UNTIL.replace(day=1)
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def _hand_written(conn, params: dict) -> dict[str, list[tuple]]:
    return {section: conn.execute(sql, params).fetchall() for section, sql in HAND_WRITTEN}


def _cross_check(report, hand: dict[str, list[tuple]]) -> list[str]:
    """Totals both sides must agree on; returns the disagreements (empty = they count the same things)."""
    problems = []
    areas = hand["notifications_by_area"]
    for index, col in enumerate(("m", "m1", "m2", "fytd"), start=1):
        mine = sum(row[index] or 0 for row in areas)
        theirs = report.notifications_by_area.total.values[col]
        if mine != theirs:
            problems.append(f"notifications {col}: hand {mine} vs report {theirs}")
    workers = hand["contacts_per_worker"]
    for index, col in enumerate(("contacts", "reached"), start=1):
        mine = sum(row[index] or 0 for row in workers)
        theirs = report.contacts_per_worker.total.values[col]
        if mine != theirs:
            problems.append(f"contacts {col}: hand {mine} vs report {theirs}")
    notified = sum(row[1] for row in hand["age_summary"])
    if notified != report.age_summary.total.values["notified"]:
        problems.append(
            f"age summary notified: hand {notified} vs report {report.age_summary.total.values['notified']}"
        )
    return problems


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    try:
        from vipterm.services import report as report_service

        report_service.build_report, report_service.Windows.for_month  # noqa: B018
    except (ImportError, AttributeError) as exc:
        return f"vipterm.services.report (build_report, Windows) does not import yet: {exc}"
    return None


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "one month's report (median)", TARGET, missing)]
    from vipterm.services import report as report_service

    build_report = report_service.build_report
    windows = report_service.Windows.for_month
    from vipterm.services.database import open_store
    from vipterm.store import engine

    profile = ctx.profile
    path = ctx.datasets().copy(profile.program, ctx.work_dir / "report")
    month = report_month()
    store = open_store(path, PASSPHRASE)  # migrates the copy if the schema moved on
    # The hand-written baseline cuts months at UTC midnight; on a UTC program the report cuts them
    # there too (still through its local_day() functions), so the two must agree number for number.
    store.set_time_zone("UTC")
    conn = engine.connect_raw(path, store.database.raw)
    try:
        params = {
            k: v for k, v in windows(month).params(store.clock).items() if k in ("m0", "m_next", "m1", "m2", "fy")
        }
        report = build_report(store, month)  # untimed first run: file cache warm for both sides
        problems = _cross_check(report, _hand_written(conn, params))

        def subject() -> float:
            start = time.perf_counter()
            build_report(store, month)
            return time.perf_counter() - start

        def baseline() -> float:
            start = time.perf_counter()
            _hand_written(conn, params)
            return time.perf_counter() - start

        subject_samples, baseline_samples = interleaved(subject, baseline, profile.report_rounds)
    finally:
        conn.close()
        store.close()
    value, base = median(subject_samples), median(baseline_samples)
    ratio = value / base
    note = f"month {month:%Y-%m}; " + (
        "baseline totals agree with the report's (notifications, contacts, age summary)"
        if not problems
        else "baseline and report DISAGREE: " + "; ".join(problems)
    )
    return [
        Figure(
            NAME,
            "one month's report (median)",
            "s",
            value,
            base,
            "hand-written SQL, bare sqlcipher3 cursor",
            ratio,
            TARGET + ("" if profile.name == "large" else " (set for the large profile)"),
            value <= 1.0 and ratio <= 3.0,
            samples=len(subject_samples),
            size=size_words(profile.program),
            note=note,
        )
    ]
