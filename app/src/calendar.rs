//! UTC dates from Unix seconds, in a few lines of arithmetic: the part of date handling
//! that the browser runs (the create dialog's expiry preview and checks). chrono's clock,
//! parser and formatter cost about 12 KB gzip in the wasm; the server's chrono-typed
//! helpers in `keys` call these same functions, so the dialog and the server agree.
//!
//! Dates are proleptic Gregorian; the day conversions are Howard Hinnant's
//! `days_from_civil` and `civil_from_days`.

pub const DAY: i64 = 86_400;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to the month's length.
    pub day: u32,
}

impl Date {
    /// The day a Unix time falls on, in UTC.
    pub fn of(at: i64) -> Self {
        let z = at.div_euclid(DAY) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day }
    }

    /// `YYYY-MM-DD`, as a date input sends it; `None` for anything else or a day that
    /// does not exist.
    pub fn parse(text: &str) -> Option<Self> {
        let number = |part: &str, digits: std::ops::RangeInclusive<usize>| {
            (digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        let mut parts = text.split('-');
        let year = number(parts.next()?, 4..=4)?;
        let month = number(parts.next()?, 1..=2)?;
        let day = number(parts.next()?, 1..=2)?;
        if parts.next().is_some() || !(1..=12).contains(&month) {
            return None;
        }
        let year = i64::from(year);
        (day >= 1 && day <= days_in_month(year, month)).then_some(Self { year, month, day })
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        let year = self.year - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year - era * 400;
        let month = i64::from(self.month);
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5
            + i64::from(self.day)
            - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The same day `months` later, or the month's last day when it is shorter.
    pub fn add_months(self, months: u32) -> Self {
        let index = self.year * 12 + i64::from(self.month - 1) + i64::from(months);
        let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
        Self {
            year,
            month,
            day: self.day.min(days_in_month(year, month)),
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `at` moved `months` calendar months on, at the same time of day (the month's last day
/// when the day does not exist in it).
pub fn add_months(at: i64, months: u32) -> i64 {
    let moved = Date::of(at).add_months(months);
    moved.days() * DAY + at.rem_euclid(DAY)
}

/// `Dec 23, 2026`.
pub fn format_date(at: i64) -> String {
    let date = Date::of(at);
    format!(
        "{} {}, {}",
        MONTHS[date.month as usize - 1],
        date.day,
        date.year
    )
}

/// `in 29 days`, `3 hours ago`, `just now`, for a time `seconds` from now (negative: in
/// the past).
pub fn relative(seconds: i64) -> String {
    let (amount, unit) = match seconds.unsigned_abs() {
        s if s < 60 => return "just now".into(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 365 => (s / 86_400, "day"),
        s => (s / (86_400 * 365), "year"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if seconds > 0 {
        format!("in {amount} {unit}{plural}")
    } else {
        format!("{amount} {unit}{plural} ago")
    }
}

/// The browser's clock, in Unix seconds.
#[cfg(feature = "hydrate")]
pub fn now() -> i64 {
    (web_sys::js_sys::Date::now() / 1000.0).floor() as i64
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use chrono::{DateTime, Datelike, Months, NaiveDate};
    use proptest::prelude::*;

    use super::*;

    /// From 1900 to 2400: a date input's range and then some.
    const SPAN: std::ops::Range<i64> = -2_208_988_800..13_569_465_600;

    proptest! {
        #[test]
        fn a_day_agrees_with_chrono(at in SPAN) {
            let reference = DateTime::from_timestamp(at, 0).unwrap().date_naive();
            let date = Date::of(at);
            prop_assert_eq!(
                (date.year, date.month, date.day),
                (i64::from(reference.year()), reference.month(), reference.day())
            );
            prop_assert_eq!(date.days() * DAY, at - at.rem_euclid(DAY));
        }

        #[test]
        fn months_on_agree_with_chrono(at in SPAN, months in 0u32..=120) {
            let reference = DateTime::from_timestamp(at, 0)
                .unwrap()
                .checked_add_months(Months::new(months))
                .unwrap();
            prop_assert_eq!(add_months(at, months), reference.timestamp());
        }

        #[test]
        fn dates_format_as_chrono_does(at in SPAN) {
            let reference = DateTime::from_timestamp(at, 0).unwrap();
            prop_assert_eq!(format_date(at), reference.format("%b %-d, %Y").to_string());
        }

        #[test]
        fn dates_parse_as_chrono_does(y in 1900i32..2400, m in 0u32..14, d in 0u32..33) {
            let text = format!("{y}-{m:02}-{d:02}");
            let reference = NaiveDate::from_ymd_opt(y, m, d);
            let parsed = Date::parse(&text);
            prop_assert_eq!(
                parsed.map(|p| (p.year, p.month, p.day)),
                reference.map(|r| (i64::from(r.year()), r.month(), r.day()))
            );
        }
    }

    #[test]
    fn leap_days_clamp_and_exist() {
        let feb29 = Date::parse("2028-02-29").unwrap();
        assert_eq!(feb29.add_months(12), Date::parse("2029-02-28").unwrap());
        // Clamped days do not come back: two years and two more end on the 28th.
        assert_eq!(feb29.add_months(24).add_months(24).day, 28);
        assert_eq!(feb29.add_months(48).day, 29);
        assert_eq!(Date::parse("2027-01-31").unwrap().add_months(1).day, 28);
        assert_eq!(Date::parse("2100-02-29"), None);
        assert_eq!(Date::parse("2000-02-29").map(|d| d.day), Some(29));
    }

    #[test]
    fn only_a_plain_date_parses() {
        for text in [
            "",
            "2027",
            "2027-01",
            "2027-01-31-1",
            "27-01-31",
            "2027-1-31x",
            "+2027-01-31",
            "2027-13-01",
            "2027-00-10",
            "2027-04-31",
            " 2027-01-31",
            "2027/01/31",
            "２０２７-01-31",
        ] {
            assert_eq!(Date::parse(text), None, "{text:?}");
        }
        assert_eq!(
            Date::parse("2027-1-5"),
            Some(Date {
                year: 2027,
                month: 1,
                day: 5
            })
        );
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(0), "just now");
        assert_eq!(relative(-59), "just now");
        assert_eq!(relative(60), "in 1 minute");
        assert_eq!(relative(-7200), "2 hours ago");
        assert_eq!(relative(29 * DAY + 5), "in 29 days");
        assert_eq!(relative(-400 * DAY), "1 year ago");
    }
}
