#!/usr/bin/python3
"""Generate tests/unit/cron_cases.tsv, the table the cron parser is tested
against (tests/unit/test_cron.c): (expression, zone, instant) -> the next fire
time, with the expected times from Debian's python3-croniter.

    scripts/gen-cron-cases.py > tests/unit/cron_cases.tsv
    scripts/gen-cron-cases.py --check tests/unit/cron_cases.tsv   # make test: same table?

croniter decides which wall-clock times an expression matches: it is asked for
the next matching local time as a naive datetime, where its calendar
arithmetic is exact. Its time-zone handling is not used: croniter 1.3.5
(Debian 12) gives wrong times next to DST changes with zoneinfo, pytz and
dateutil zones alike (e.g. "30 2 * * *" in Europe/Berlin on 2026-03-29
answers 02:30+01:00, a time that does not exist). The local times are turned
into instants here with Python's zoneinfo (the system's tzdata, as glibc reads
it) by the rule docs/scheduling.md states: a local time the clock jumps over
fires at the first instant after the jump; one that occurs twice fires at its
first occurrence; the next fire time is the first such instant after the
given one.

croniter takes a seconds field last; sluice takes it first: converted here.
"""
import argparse
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

EXPRS = [
    "* * * * *", "*/5 * * * *", "0 * * * *", "30 * * * *", "0 */6 * * *", "30 */2 * * *",
    "0 0 * * *", "30 2 * * *", "0 2 * * *", "0 3 * * *", "15 1 * * *", "45 2 * * *",
    "0 0 1 * *", "0 0 31 * *", "0 0 29 2 *", "59 23 31 12 *", "0 0 1 1 *",
    "0 12 * * 1-5", "0 9 * * mon,wed,fri", "0 22 * * 0", "0 0 * * 7", "0 8 * * sat,sun",
    "0 0 13 * 5", "0 0 */2 * 1", "0 0 1-7 * 1", "*/10 9-17 * * 1-5", "5/15 * * * *",
    "0 0 15 jan,jul *", "0 6 1 */3 *", "20-40/10 3 * * *",
    "*/10 * * * * *", "30 0 2 * * *", "0 30 2 * * *", "15,45 * * * * *", "0 0 */4 * * *",
    "@hourly", "@daily", "@weekly", "@monthly", "@yearly",
]
DST_EXPRS = ["* * * * *", "*/15 * * * *", "0 * * * *", "30 2 * * *", "0 2 * * *", "0 3 * * *",
             "15 1 * * *", "30 1 * * *", "0 30 2 * * *", "*/30 * * * * *", "@hourly", "@daily"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
         "Pacific/Chatham", "America/Sao_Paulo", "Europe/London", "Asia/Tokyo", "America/St_Johns"]
DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Pacific/Chatham", "Europe/London",
             "America/St_Johns"]
INSTANTS = ["2026-02-28T23:59:59Z", "2026-06-15T12:34:56Z", "2027-12-31T23:30:00Z"]


def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def wall(u, tz):
    """The naive local time of instant u."""
    return u.astimezone(tz).replace(tzinfo=None)


def instant(w, tz):
    """The instant of naive local time w by the DST rule."""
    found = []
    for fold in (0, 1):
        u = w.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc)
        if wall(u, tz) == w:
            found.append(u)
    if found:
        return min(found)
    a = w.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    b = w.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    lo, hi = int(min(a, b).timestamp()), int(max(a, b).timestamp())
    while lo < hi:  # in a gap: the first instant whose local time is past w
        mid = (lo + hi) // 2
        if wall(datetime.fromtimestamp(mid, timezone.utc), tz) > w:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, timezone.utc)


def croniter_expr(expr):
    f = expr.split()
    return " ".join(f[1:] + f[:1]) if len(f) == 6 else expr


def next_fire(expr, zone, after):
    tz = ZoneInfo(zone)
    it = croniter(croniter_expr(expr), wall(after, tz))
    for _ in range(200000):
        u = instant(it.get_next(datetime), tz)
        if u > after:
            return u
    raise RuntimeError(f"{expr} in {zone} after {after}: no fire time")


def transitions(zone, year):
    """UTC instants (whole seconds) where zone's offset changes in year."""
    tz, out = ZoneInfo(zone), []
    t = int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp())
    off = lambda s: datetime.fromtimestamp(s, timezone.utc).astimezone(tz).utcoffset()
    step = 3600
    while t < end:
        if off(t) != off(t + step):
            lo, hi = t, t + step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid) == off(t) else (lo, mid)
            out.append(hi)
        t += step
    return out


def cases():
    seen = set()
    for zone in ZONES:
        for expr in EXPRS:
            for s in INSTANTS:
                yield expr, zone, utc(s)
    for zone in DST_ZONES:
        for year in (2026,):
            for tr in transitions(zone, year):
                for d in (-5400, -1, 0, 1800, 3600):
                    at = datetime.fromtimestamp(tr + d, timezone.utc)
                    for expr in DST_EXPRS:
                        key = (expr, zone, at)
                        if key not in seen:
                            seen.add(key)
                            yield expr, zone, at


def table():
    lines = ["# expression\tzone\tafter (UTC)\tnext (epoch s)\tnext (local)\t"
             "-- generated by scripts/gen-cron-cases.py from python3-croniter; do not edit"]
    for expr, zone, at in cases():
        n = next_fire(expr, zone, at)
        lines.append("\t".join([expr, zone, at.strftime("%Y-%m-%dT%H:%M:%SZ"), str(int(n.timestamp())),
                                n.astimezone(ZoneInfo(zone)).isoformat()]))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", metavar="FILE", help="exit 1 unless FILE is what this script generates")
    a = ap.parse_args()
    text = table()
    if a.check:
        if open(a.check, encoding="utf-8").read() != text:
            print(f"{a.check} is not what scripts/gen-cron-cases.py generates: regenerate it", file=sys.stderr)
            return 1
        print(f"{a.check}: {text.count(chr(10)) - 1} cases, as generated from python3-croniter")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
