//! Proxmox's calendar events (`sun 03:00`, `mon..fri 22:30`, `*-*-01 02:00`, `daily`):
//! the schedule of a backup job, parsed by the grammar Proxmox parses it with, and the same
//! moments written for a systemd timer (`OnCalendar=`).
//!
//! The grammar follows proxmox-rs: `proxmox-time/src/calendar_event.rs`
//! (`parse_calendar_event_incomplete`, `parse_date_spec`, `parse_time_spec`,
//! `parse_date_time_comp`, `parse_date_time_comp_list`), `proxmox-time/src/week_days.rs`
//! (`parse_weekday`, `parse_weekdays_range`: full or short English names, any case, and
//! ranges that wrap past Sunday) and `proxmox-time/src/parse_helpers.rs`
//! (`parse_time_comp`: a value must be below the component's limit); pve-manager runs jobs
//! through it (`PVE/Jobs.pm` `run_jobs`, `PVE::CalendarEvent`). The special words are those
//! of pve-docs `calendar-events.adoc`:
//!
//! ```text
//! [WEEKDAY[..WEEKDAY][,...]] [[YEARS-]MONTHS-DAYS] [[HOURS:]MINUTES[:SECONDS]] [UTC]
//! ```
//!
//! Each numeric part is `*`, `*/R`, or a comma list of `V`, `A..B`, `V/R`, `A..B/R`. A bare
//! number is *minutes* (every hour): `sun 22` is 22 minutes past each hour on Sundays.
//! Stricter than Proxmox, on purpose: a repetition of 0 (`0/0`), month or day 0 (never
//! matched), and a year before 1970 (systemd's timer cannot name it) are refused.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Comp {
    Single(u32),
    Range(u32, u32),
    Repeated(u32, u32, Option<u32>),
}

type List = Vec<Comp>;
/// A part that was read (`Some`), is not there (`None`), or is wrong (`Err`).
type Parsed<T> = Result<Option<T>, String>;

/// A parsed calendar event. An empty list means every value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// Bit 0 Monday .. bit 6 Sunday; 0 = every day.
    days: u8,
    year: Vec<Comp>,
    month: Vec<Comp>,
    day: Vec<Comp>,
    hour: Vec<Comp>,
    minute: Vec<Comp>,
    second: Vec<Comp>,
    utc: bool,
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn weekday(word: &str) -> Option<u8> {
    Some(match word.to_ascii_lowercase().as_str() {
        "monday" | "mon" => 0,
        "tuesday" | "tue" => 1,
        "wednesday" | "wed" => 2,
        "thursday" | "thu" => 3,
        "friday" | "fri" => 4,
        "saturday" | "sat" => 5,
        "sunday" | "sun" => 6,
        _ => return None,
    })
}

struct P<'a> {
    s: &'a str,
}

impl P<'_> {
    fn eat(&mut self, t: &str) -> bool {
        match self.s.strip_prefix(t) {
            Some(r) => {
                self.s = r;
                true
            }
            None => false,
        }
    }
    /// The separators between a schedule's parts: spaces and tabs (nom's `space0`, which
    /// proxmox-time's `parse_calendar_event_incomplete` skips them with).
    fn spaces(&mut self) {
        self.s = self.s.trim_start_matches([' ', '\t']);
    }
    fn number(&mut self, max: u32, what: &str) -> Result<Option<u32>, String> {
        let n = self.s.len()
            - self
                .s
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        if n == 0 {
            return Ok(None);
        }
        let v: u32 = self.s[..n]
            .parse()
            .map_err(|_| format!("{what} {} is too large", &self.s[..n]))?;
        if v >= max {
            return Err(format!("{what} {v} is too large (below {max})"));
        }
        self.s = &self.s[n..];
        Ok(Some(v))
    }
    fn alpha(&mut self) -> &str {
        let n = self.s.len()
            - self
                .s
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (w, r) = self.s.split_at(n);
        self.s = r;
        w
    }
}

/// One component: `*`, `*/R` or a comma list (`parse_date_time_comp_list`). `None` when
/// the text does not start one.
fn comp_list(p: &mut P, start: u32, max: u32, what: &str) -> Result<Option<Vec<Comp>>, String> {
    if p.eat("*") {
        if p.eat("/") {
            let r = p
                .number(max, what)?
                .ok_or_else(|| format!("a repetition after \"*/\" in the {what}s"))?;
            if r == 0 {
                return Err(format!("a repetition of 0 in the {what}s never repeats"));
            }
            return Ok(Some(vec![Comp::Repeated(start, r, None)]));
        }
        return Ok(Some(Vec::new()));
    }
    let mut out = Vec::new();
    loop {
        let Some(v) = p.number(max, what)? else {
            if out.is_empty() {
                return Ok(None);
            }
            return Err(format!("a {what} after \",\""));
        };
        let mut end = None;
        if p.eat("..") {
            let e = p
                .number(max, what)?
                .ok_or_else(|| format!("a {what} after \"..\""))?;
            if v > e {
                return Err(format!("the {what} range {v}..{e} starts after its end"));
            }
            end = Some(e);
        }
        let c = if p.eat("/") {
            let r = p
                .number(max, what)?
                .ok_or_else(|| format!("a repetition after \"/\" in the {what}s"))?;
            if r == 0 {
                return Err(format!("a repetition of 0 in the {what}s never repeats"));
            }
            Comp::Repeated(v, r, end)
        } else if let Some(e) = end {
            Comp::Range(v, e)
        } else {
            Comp::Single(v)
        };
        out.push(c);
        if !p.eat(",") {
            return Ok(Some(out));
        }
    }
}

/// The event as Proxmox keeps it: white space at either end removed.
pub fn trim(text: &str) -> &str {
    text.trim_matches(char::is_whitespace)
}

/// Parse a calendar event as Proxmox does; the error says what is wrong.
pub fn parse(text: &str) -> Result<Event, String> {
    let mut ev = Event::default();
    // pve-common trims the event first (`PVE::CalendarEvent::parse_calendar_event`,
    // `PVE::Tools::trim`: Perl's `\s`, Unicode white space in a decoded string).
    let mut s = trim(text);
    if let Some(n) = s.strip_suffix("UTC") {
        ev.utc = true;
        s = n.trim_end_matches(' ');
    }
    // The special words, each the whole event (calendar-events.adoc, "Special Values"):
    // (weekdays, months, days, hours, minutes); seconds are always 0.
    let one = |v: u32| vec![Comp::Single(v)];
    let special = match s {
        "minutely" => Some((0, vec![], vec![], vec![], vec![])),
        "hourly" => Some((0, vec![], vec![], vec![], one(0))),
        "daily" => Some((0, vec![], vec![], one(0), one(0))),
        "weekly" => Some((1, vec![], vec![], one(0), one(0))),
        "monthly" => Some((0, vec![], one(1), one(0), one(0))),
        "yearly" | "annually" => Some((0, one(1), one(1), one(0), one(0))),
        "quarterly" => Some((
            0,
            [1, 4, 7, 10].map(Comp::Single).to_vec(),
            one(1),
            one(0),
            one(0),
        )),
        "semiannually" | "semi-annually" => {
            Some((0, [1, 7].map(Comp::Single).to_vec(), one(1), one(0), one(0)))
        }
        _ => None,
    };
    if let Some((days, month, day, hour, minute)) = special {
        (ev.days, ev.month, ev.day, ev.hour, ev.minute) = (days, month, day, hour, minute);
        ev.second = one(0);
        return Ok(ev);
    }
    let mut p = P { s };
    let (mut has_day, mut has_date, mut has_time) = (false, false, false);
    if p.s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        loop {
            let w = p.alpha().to_string();
            let a = weekday(&w).ok_or_else(|| format!("\"{w}\" is not a weekday"))?;
            let mut set = 1u8 << a;
            if p.eat("..") {
                let w = p.alpha().to_string();
                let b = weekday(&w).ok_or_else(|| format!("\"{w}\" is not a weekday"))?;
                // sat..mon wraps past Sunday (week_days.rs, parse_weekdays_range).
                set = (0..7)
                    .filter(|d| {
                        if a <= b {
                            (a..=b).contains(d)
                        } else {
                            *d >= a || *d <= b
                        }
                    })
                    .fold(0, |m, d| m | (1 << d));
            }
            ev.days |= set;
            if !p.eat(",") {
                break;
            }
        }
        has_day = true;
        p.spaces();
    }
    // The date: YEARS-MONTHS-DAYS or MONTHS-DAYS (parse_date_spec tries both, in order).
    let save = p.s;
    let date3 = (|| -> Parsed<(List, List, List)> {
        let Some(y) = comp_list(&mut p, 0, 2200, "year")? else {
            return Ok(None);
        };
        if !p.eat("-") {
            return Ok(None);
        }
        let Some(m) = comp_list(&mut p, 1, 13, "month")? else {
            return Ok(None);
        };
        if !p.eat("-") {
            return Ok(None);
        }
        let Some(d) = comp_list(&mut p, 1, 32, "day")? else {
            return Ok(None);
        };
        Ok(Some((y, m, d)))
    })();
    // A date that does not parse is no date (nom's `opt`): the text is read again as a
    // time, and what is left over is the error, which the date's own reason explains.
    let mut date_err = None;
    match date3 {
        Ok(Some((y, m, d))) => {
            (ev.year, ev.month, ev.day) = (y, m, d);
            has_date = true;
        }
        other => {
            // Its reason matters only where the text there has a date's `-`.
            let token = save.split([' ', '\t']).next().unwrap_or("");
            date_err = other.err().filter(|_| token.contains('-'));
            p.s = save;
            let date2 = (|| -> Parsed<(List, List)> {
                let Some(m) = comp_list(&mut p, 1, 13, "month")? else {
                    return Ok(None);
                };
                if !p.eat("-") {
                    return Ok(None);
                }
                let d = comp_list(&mut p, 1, 32, "day")?.ok_or("a day after the month")?;
                Ok(Some((m, d)))
            })();
            match date2 {
                Ok(Some((m, d))) => {
                    (ev.month, ev.day) = (m, d);
                    has_date = true;
                    date_err = None;
                }
                Ok(None) => p.s = save,
                Err(e) => {
                    if token_has_dash(save) {
                        date_err = date_err.or(Some(e));
                    }
                    p.s = save;
                }
            }
        }
    }
    if has_date {
        p.spaces();
    }
    // The time: [HOURS:]MINUTES[:SECONDS] (parse_time_spec); seconds default to 0, hours
    // to every hour. Without a time, 00:00:00.
    let save = p.s;
    let first = comp_list(&mut p, 0, 60, "minute")?;
    if let Some(first) = first {
        has_time = true;
        if p.eat(":") {
            // What was read was the hours.
            p.s = save;
            ev.hour = comp_list(&mut p, 0, 24, "hour")?.expect("read before");
            p.eat(":");
            ev.minute = comp_list(&mut p, 0, 60, "minute")?.ok_or("minutes after the hours")?;
        } else {
            ev.minute = first;
        }
        ev.second = if p.eat(":") {
            comp_list(&mut p, 0, 60, "second")?.ok_or("seconds after the minutes")?
        } else {
            vec![Comp::Single(0)]
        };
    } else {
        ev.hour = vec![Comp::Single(0)];
        ev.minute = vec![Comp::Single(0)];
        ev.second = vec![Comp::Single(0)];
    }
    if !(has_day || has_date || has_time) {
        return Err("no weekday, date or time in it".into());
    }
    if !p.s.is_empty() {
        return Err(date_err.unwrap_or_else(|| format!("unexpected \"{}\"", p.s)));
    }
    for (c, what) in [(&ev.month, "month"), (&ev.day, "day")] {
        if values(c, 0, 0).contains(&0) {
            return Err(format!("{what} 0 never comes ({what}s start at 1)"));
        }
    }
    if !ev.year.is_empty() && values(&ev.year, 0, 2199).iter().all(|y| *y < 1970) {
        return Err("no year from 1970 on in it".into());
    }
    Ok(ev)
}

fn token_has_dash(s: &str) -> bool {
    s.split([' ', '\t']).next().unwrap_or("").contains('-')
}

/// The values a component list stands for, `last` the highest a repetition reaches.
fn values(c: &[Comp], _first: u32, last: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for x in c {
        match *x {
            Comp::Single(a) => v.push(a),
            Comp::Range(a, b) => v.extend(a..=b),
            Comp::Repeated(a, r, end) => {
                let end = end.unwrap_or(last);
                v.extend((a..=end.max(a)).step_by(r as usize));
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

impl Event {
    /// The same moments as a systemd `OnCalendar=` value (systemd.time(7)): weekdays, then
    /// `Y-M-D`, then `h:m:s`, each list written out value by value.
    pub fn systemd(&self) -> String {
        let mut out = String::new();
        if self.days != 0 && self.days != 0x7f {
            let d: Vec<&str> = (0..7)
                .filter(|i| self.days & (1 << i) != 0)
                .map(|i| DAY_NAMES[i])
                .collect();
            out.push_str(&d.join(","));
            out.push(' ');
        }
        let list = |c: &[Comp], last: u32, width: usize, min: u32| -> String {
            if c.is_empty() {
                return "*".into();
            }
            let v: Vec<String> = values(c, 0, last)
                .into_iter()
                .filter(|x| *x >= min)
                .map(|x| format!("{x:0width$}"))
                .collect();
            v.join(",")
        };
        let _ = write!(
            out,
            "{}-{}-{} {}:{}:{}",
            list(&self.year, 2199, 4, 1970),
            list(&self.month, 12, 2, 1),
            list(&self.day, 31, 2, 1),
            list(&self.hour, 23, 2, 0),
            list(&self.minute, 59, 2, 0),
            list(&self.second, 59, 2, 0),
        );
        if self.utc {
            out.push_str(" UTC");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd(s: &str) -> String {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).systemd()
    }

    #[test]
    fn white_space_is_read_as_proxmox_reads_it() {
        // pve-common trims the event; proxmox-time skips spaces and tabs between parts.
        assert_eq!(sd(" \tdaily\n"), sd("daily"));
        assert_eq!(sd("sun\t03:00"), sd("sun 03:00"));
        assert_eq!(sd("  sun  03:00 "), sd("sun 03:00"));
        assert_eq!(sd("mon\t*-12-24\t02:00"), sd("mon *-12-24 02:00"));
        assert_eq!(trim(" \tsun 03:00\t"), "sun 03:00");
        assert!(parse("sun 24:00").is_err(), "hour 24 stays refused");
    }

    #[test]
    fn documented_examples_parse() {
        // pve-docs calendar-events.adoc, "Schedule Examples", with their meaning.
        assert_eq!(sd("mon..fri"), "Mon,Tue,Wed,Thu,Fri *-*-* 00:00:00");
        assert_eq!(sd("sat,sun"), "Sat,Sun *-*-* 00:00:00");
        assert_eq!(sd("12:05"), "*-*-* 12:05:00");
        assert_eq!(sd("*/5"), "*-*-* *:00,05,10,15,20,25,30,35,40,45,50,55:00");
        assert_eq!(sd("0/5"), sd("*/5"));
        assert_eq!(sd("mon..wed 30/10"), "Mon,Tue,Wed *-*-* *:30,40,50:00");
        assert_eq!(sd("fri 12..13:5/20"), "Fri *-*-* 12,13:05,25,45:00");
        assert_eq!(sd("12/2:5"), "*-*-* 12,14,16,18,20,22:05:00");
        assert_eq!(sd("*-05"), "*-*-05 00:00:00");
        assert_eq!(
            sd("Sat *-1..7 15:00"),
            "Sat *-*-01,02,03,04,05,06,07 15:00:00"
        );
        assert_eq!(sd("2015-10-21"), "2015-10-21 00:00:00");
        assert_eq!(sd("sun 03:00"), "Sun *-*-* 03:00:00");
        assert_eq!(
            sd("mon..fri 8..17,22:0/15"),
            "Mon,Tue,Wed,Thu,Fri *-*-* 08,09,10,11,12,13,14,15,16,17,22:00,15,30,45:00"
        );
        assert_eq!(sd("sat..mon 1:00"), "Mon,Sat,Sun *-*-* 01:00:00");
        assert_eq!(sd("daily"), "*-*-* 00:00:00");
        assert_eq!(sd("weekly"), "Mon *-*-* 00:00:00");
        assert_eq!(sd("monthly"), "*-*-01 00:00:00");
        assert_eq!(sd("hourly"), "*-*-* *:00:00");
        assert_eq!(sd("minutely"), "*-*-* *:*:00");
        assert_eq!(sd("quarterly"), "*-01,04,07,10-01 00:00:00");
        assert_eq!(sd("sun 22"), "Sun *-*-* *:22:00");
        assert_eq!(sd("02:30 UTC"), "*-*-* 02:30:00 UTC");
        assert_eq!(sd("Sunday 3:0:30"), "Sun *-*-* 03:00:30");
    }

    #[test]
    fn malformed_refused() {
        for bad in [
            "",
            "sun 25:00",
            "sun 03:60",
            "funday",
            "sun 03:00 extra",
            "sun..",
            "1..",
            "5..3",
            "*/0",
            "3/0",
            "13-01",
            "*-00",
            "sunday,",
            "03:",
            "Daily",
            "1960-01-01",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
