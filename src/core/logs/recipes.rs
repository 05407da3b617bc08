//! The guides' built-in log recipes, as pure tallies over lines: failed SSH logins from auth.log
//! or sshd's journal (per source IP and user, IPs past a threshold flagged suspicious), and the
//! access-log analyser's figures (requests, status distribution, 5xx share, top endpoints,
//! hourly distribution, mean and p95 response time) over nginx/Apache combined lines.
//!
//! Memory is bounded whatever the log holds: at most [`MAX_KEYS`] distinct IPs, users and
//! endpoints are tallied one by one (the rest only in the totals, and counted as such), and
//! response times go into a fixed log-scale histogram ([`LatencyHistogram`]) instead of a list.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Timelike};

/// Distinct keys (IPs, users, endpoints) a tally tracks individually.
pub const MAX_KEYS: usize = 10_000;

/// How sshd reported a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailureKind {
    /// `Failed <method> for [invalid user] USER from IP port N ssh2`: a rejected credential.
    Failed { invalid_user: bool },
    /// `Invalid user USER from IP [port N]`: a login attempt naming an unknown user. sshd logs it
    /// before the `Failed password for invalid user` of the same attempt (when a password is
    /// tried at all), so it is tallied apart rather than added to the failures.
    InvalidUser,
}

/// One failed login, borrowed from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure<'a> {
    pub kind: LoginFailureKind,
    pub user: &'a str,
    pub ip: IpAddr,
    /// How many attempts the line stands for: rsyslog folds repeats into
    /// `message repeated N times: [ … ]`.
    pub repeats: u64,
}

/// The sshd message inside an auth.log line (`Dec  5 10:01:02 host sshd[812]: …`), or the line
/// itself when it is already a bare message (journald's `MESSAGE`).
fn sshd_message(line: &str) -> &str {
    match line.find("sshd[").or_else(|| line.find("sshd:")) {
        Some(start) => line[start..]
            .find(": ")
            .map_or(line, |colon| &line[start + colon + 2..]),
        None => line,
    }
}

/// The failed login `line` reports, if it reports one.
pub fn parse_sshd(line: &str) -> Option<LoginFailure<'_>> {
    let mut message = sshd_message(line).trim_end();
    let mut repeats = 1;
    if let Some(rest) = message.strip_prefix("message repeated ") {
        let (count, inner) = rest.split_once(" times: [")?;
        repeats = count.parse().ok()?;
        message = inner.trim_end().strip_suffix(']')?.trim();
    }
    let (kind, rest) = if let Some(rest) = message.strip_prefix("Failed ") {
        let (_method, rest) = rest.split_once(" for ")?;
        match rest.strip_prefix("invalid user ") {
            Some(rest) => (LoginFailureKind::Failed { invalid_user: true }, rest),
            None => (
                LoginFailureKind::Failed {
                    invalid_user: false,
                },
                rest,
            ),
        }
    } else if let Some(rest) = message.strip_prefix("Invalid user ") {
        (LoginFailureKind::InvalidUser, rest)
    } else {
        return None;
    };
    // The user name is the attacker's choice and may itself contain " from ": the address is
    // after the last one.
    let from = rest.rfind(" from ")?;
    let user = &rest[..from];
    let address = rest[from + 6..].split(' ').next()?;
    let ip = address.parse().ok()?;
    Some(LoginFailure {
        kind,
        user,
        ip,
        repeats,
    })
}

/// Failed logins from one source address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpTally {
    /// `Failed … for …` attempts.
    pub failures: u64,
    /// `Invalid user …` attempts.
    pub invalid_users: u64,
}

/// The weekly "failed login attempts / suspicious IPs" check.
#[derive(Debug, Clone)]
pub struct FailedLogins {
    /// An IP with at least this many failures, or this many invalid-user attempts, is
    /// suspicious.
    pub threshold: u64,
    pub failures: u64,
    pub invalid_users: u64,
    /// Attempts whose IP (or user) did not fit under [`MAX_KEYS`]; in the totals only.
    pub untracked_ips: u64,
    pub untracked_users: u64,
    by_ip: HashMap<IpAddr, IpTally>,
    by_user: HashMap<String, u64>,
}

impl FailedLogins {
    pub fn new(threshold: u64) -> Self {
        FailedLogins {
            threshold,
            failures: 0,
            invalid_users: 0,
            untracked_ips: 0,
            untracked_users: 0,
            by_ip: HashMap::new(),
            by_user: HashMap::new(),
        }
    }

    /// Tallies `line` when it reports a failed login; says whether it did.
    pub fn observe_line(&mut self, line: &str) -> bool {
        match parse_sshd(line) {
            Some(failure) => {
                self.observe(&failure);
                true
            }
            None => false,
        }
    }

    pub fn observe(&mut self, failure: &LoginFailure<'_>) {
        let count = failure.repeats;
        let tally = if self.by_ip.len() < MAX_KEYS || self.by_ip.contains_key(&failure.ip) {
            Some(self.by_ip.entry(failure.ip).or_default())
        } else {
            self.untracked_ips += count;
            None
        };
        match failure.kind {
            LoginFailureKind::Failed { .. } => {
                self.failures += count;
                if let Some(tally) = tally {
                    tally.failures += count;
                }
                if let Some(seen) = self.by_user.get_mut(failure.user) {
                    *seen += count;
                } else if self.by_user.len() < MAX_KEYS {
                    self.by_user.insert(failure.user.to_owned(), count);
                } else {
                    self.untracked_users += count;
                }
            }
            LoginFailureKind::InvalidUser => {
                self.invalid_users += count;
                if let Some(tally) = tally {
                    tally.invalid_users += count;
                }
            }
        }
    }

    pub fn by_ip(&self, ip: IpAddr) -> IpTally {
        self.by_ip.get(&ip).copied().unwrap_or_default()
    }

    /// Failures naming `user`.
    pub fn by_user(&self, user: &str) -> u64 {
        self.by_user.get(user).copied().unwrap_or(0)
    }

    /// The `n` IPs with the most failures (invalid-user attempts break ties), most first.
    pub fn top_ips(&self, n: usize) -> Vec<(IpAddr, IpTally)> {
        let mut ips: Vec<_> = self.by_ip.iter().map(|(ip, tally)| (*ip, *tally)).collect();
        ips.sort_by(|a, b| {
            (b.1.failures, b.1.invalid_users, a.0).cmp(&(a.1.failures, a.1.invalid_users, b.0))
        });
        ips.truncate(n);
        ips
    }

    /// The `n` most tried user names, most first.
    pub fn top_users(&self, n: usize) -> Vec<(&str, u64)> {
        top(&self.by_user, n)
    }

    /// IPs past the threshold, most failures first.
    pub fn suspicious(&self) -> Vec<(IpAddr, IpTally)> {
        let mut ips = self.top_ips(usize::MAX);
        ips.retain(|(_, tally)| {
            tally.failures >= self.threshold || tally.invalid_users >= self.threshold
        });
        ips
    }
}

fn top<S: BuildHasher>(counts: &HashMap<String, u64, S>, n: usize) -> Vec<(&str, u64)> {
    let mut entries: Vec<_> = counts
        .iter()
        .map(|(key, count)| (key.as_str(), *count))
        .collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries.truncate(n);
    entries
}

/// The unit of the request time a log format appends after the combined fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTime {
    /// Plain combined format: no request time.
    Absent,
    /// nginx `$request_time`, e.g. `0.123`.
    Seconds,
    Milliseconds,
    /// Apache `%D`.
    Microseconds,
}

/// One access-log request, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord<'a> {
    pub ip: &'a str,
    pub method: &'a str,
    /// The request path without its query string.
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub request_ms: Option<f64>,
    pub at: DateTime<FixedOffset>,
}

/// Parses an nginx/Apache combined line:
/// `IP - USER [05/Dec/2026:10:00:01 +0000] "GET /path?q HTTP/1.1" 200 1234 "ref" "agent" [time]`.
pub fn parse_combined(line: &str, time: RequestTime) -> Option<AccessRecord<'_>> {
    parse_combined_with(line, time, &mut StampCache::default())
}

/// The last time stamp parsed and what it meant: an access log writes many lines a second with
/// the same stamp text, so a stream of lines parses each distinct stamp once.
#[derive(Debug, Default)]
pub struct StampCache {
    /// Only a stamp of [`CLF_STAMP_BYTES`] parses, so the text fits a fixed array, which
    /// compares without a call to `memcmp`.
    text: [u8; CLF_STAMP_BYTES],
    at: Option<DateTime<FixedOffset>>,
}

/// `05/Dec/2026:10:00:01 +0000`.
const CLF_STAMP_BYTES: usize = 26;

/// [`parse_combined`] for a stream of lines, reusing the previous line's time when its stamp
/// text is the same.
pub fn parse_combined_with<'a>(
    line: &'a str,
    time: RequestTime,
    stamps: &mut StampCache,
) -> Option<AccessRecord<'a>> {
    let (ip, rest) = split_at_byte(line, b' ')?;
    let (_, rest) = split_at_byte(rest, b'[')?;
    let (at, rest) = match stamps.at {
        // The previous line's stamp again, and a stamp holds no `]`: the same split as
        // searching for it, without the search or the parse.
        Some(at)
            if rest.as_bytes().get(CLF_STAMP_BYTES) == Some(&b']')
                && rest.as_bytes()[..CLF_STAMP_BYTES] == stamps.text =>
        {
            (at, &rest[CLF_STAMP_BYTES + 1..])
        }
        _ => {
            let (stamp, rest) = split_at_byte(rest, b']')?;
            let at = parse_clf_time(stamp)?;
            stamps.text.copy_from_slice(stamp.as_bytes());
            stamps.at = Some(at);
            (at, rest)
        }
    };
    let (request, rest) = split_at_byte(rest.strip_prefix(" \"")?, b'"')?;
    let (method, target) = split_at_byte(request, b' ')?;
    // Up to the protocol or the query string, whichever comes first.
    let path = target
        .bytes()
        .position(|byte| byte == b' ' || byte == b'?')
        .map_or(target, |end| &target[..end]);
    let mut fields = rest.split_ascii_whitespace();
    let status = parse_decimal(fields.next()?)?;
    let bytes = match fields.next()? {
        "-" => 0,
        text => parse_decimal(text)?,
    };
    let request_ms = match time {
        RequestTime::Absent => None,
        // The time follows the quoted agent: in the common log format (no referer, agent or
        // time) the last number is the size, not a time.
        unit => rsplit_at_byte(line.trim_end(), b' ')
            .filter(|(before, _)| before.ends_with('"'))
            .and_then(|(_, text)| parse_seconds(text))
            .filter(|value| value.is_finite() && *value >= 0.0)
            .map(|value| match unit {
                RequestTime::Seconds => value * 1000.0,
                RequestTime::Microseconds => value / 1000.0,
                _ => value,
            }),
    };
    Some(AccessRecord {
        ip,
        method,
        path,
        status,
        bytes,
        request_ms,
        at,
    })
}

/// `text` as `str::parse` reads an unsigned number: plain digits that fit (the status and size
/// fields, every line) without the general parser's sign and radix handling, anything else
/// through it.
fn parse_decimal<T: TryFrom<u64> + std::str::FromStr>(text: &str) -> Option<T> {
    if (1..=19).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let value = text
            .bytes()
            .fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0'));
        return T::try_from(value).ok();
    }
    text.parse().ok()
}

/// `text` split around the first `byte`, as `split_once` does for an ASCII character. A plain
/// loop: the fields of a line are short, and the general searches (the standard library's and
/// `memchr`'s) cost more in their set-up than in the search.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|found| found == byte)?;
    // An ASCII byte is never inside a multi-byte character: both ends are boundaries.
    Some((&text[..at], &text[at + 1..]))
}

/// [`split_at_byte`] around the last `byte`.
fn rsplit_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = memchr::memrchr(byte, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

/// `text` as a number, as `str::parse::<f64>` reads it. A request time is digits with a few
/// decimals (`0.123`), read here without the general parser: up to 15 digits are exact as an
/// integer and a power of ten up to 10^22 is exact, so one correctly rounded division gives the
/// correctly rounded value, the parser's own result.
fn parse_seconds(text: &str) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut digits = 0;
    // Digits before the point, once it is seen.
    let mut whole: Option<usize> = None;
    for byte in text.bytes() {
        match byte {
            b'0'..=b'9' if digits < 15 => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                digits += 1;
            }
            b'.' if whole.is_none() && digits > 0 => whole = Some(digits),
            _ => return text.parse().ok(),
        }
    }
    if digits == 0 {
        return text.parse().ok();
    }
    // At most 15 digits: the mantissa is below 2^53, so `as` is exact.
    Some(mantissa as f64 / POWERS_OF_TEN[digits - whole.unwrap_or(digits)])
}

const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `05/Dec/2026:10:00:01 +0000`, by position: chrono's format parser is several times slower,
/// and this runs once per line of a gigabyte back-scan.
fn parse_clf_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let bytes = text.as_bytes();
    if bytes.len() != CLF_STAMP_BYTES || bytes[2] != b'/' || bytes[6] != b'/' || bytes[20] != b' ' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        text.get(range)?.bytes().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let month = match text.get(3..6)? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = i32::try_from(number(7..11)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, number(0..2)?)?;
    let local = date.and_hms_opt(number(12..14)?, number(15..17)?, number(18..20)?)?;
    let offset_minutes = number(22..24)? * 60 + number(24..26)?;
    let offset_seconds = i32::try_from(offset_minutes * 60).ok()?;
    let offset = match bytes[21] {
        b'+' => FixedOffset::east_opt(offset_seconds)?,
        b'-' => FixedOffset::west_opt(offset_seconds)?,
        _ => return None,
    };
    offset.from_local_datetime(&local).single()
}

/// Response times in log-scale buckets 1 % wide from 1 µs to about 28 hours (values outside
/// are clamped): fixed memory (~20 KiB) however many requests, quantiles within 1 %.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
}

const LATENCY_MIN_MS: f64 = 0.001;
const LATENCY_GROWTH: f64 = 1.01;
const LATENCY_BUCKETS: usize = 2560;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: vec![0; LATENCY_BUCKETS],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, ms: f64) {
        self.record_bucket(Self::bucket(ms));
    }

    /// [`record`](Self::record) for a value whose [`bucket`](Self::bucket) is known.
    fn record_bucket(&mut self, bucket: usize) {
        self.buckets[bucket] += 1;
        self.count += 1;
    }

    /// The bucket `ms` falls in: bucket i holds (MIN·G^(i-1), MIN·G^i]. Public so sparse
    /// per-minute histograms (the log watch's windows) share the buckets.
    pub fn bucket(ms: f64) -> usize {
        if ms <= LATENCY_MIN_MS {
            return 0;
        }
        // The float-to-int cast saturates (and maps NaN to 0).
        let exact = (ms / LATENCY_MIN_MS).ln() / LATENCY_GROWTH.ln();
        (exact.ceil() as usize).min(LATENCY_BUCKETS - 1)
    }

    /// The upper bound of bucket `index`, what a quantile falling in it reports.
    pub fn bucket_bound(index: usize) -> f64 {
        LATENCY_MIN_MS * LATENCY_GROWTH.powi(i32::try_from(index).unwrap_or(i32::MAX))
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1), reported as its bucket's upper bound: never
    /// below the exact value, at most 1 % above it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::bucket_bound(index));
            }
        }
        None
    }
}

/// The access-log analyser's figures.
#[derive(Debug, Clone)]
pub struct AccessStats {
    pub requests: u64,
    /// Lines that were not combined-format requests.
    pub unparsed: u64,
    pub bytes: u64,
    /// Requests whose path did not fit under [`MAX_KEYS`] distinct endpoints.
    pub untracked_endpoints: u64,
    statuses: Vec<u64>,
    hourly: [u64; 24],
    /// Hashed once per request of a back-scan: foldhash is several times faster than SipHash
    /// on short keys and still seeded, since anyone can choose a request path.
    endpoints: HashMap<String, u64, foldhash::fast::RandomState>,
    time_sum_ms: f64,
    latency: LatencyHistogram,
    buckets: BucketCache,
    /// The last request's time and its hour in its own zone: requests come many to a stamp.
    last_hour: Option<(DateTime<FixedOffset>, usize)>,
}

/// Slots of the [`BucketCache`]: 64 KiB, for the few thousand distinct request times a log
/// with millisecond times holds.
const BUCKET_CACHE_SLOTS: usize = 4096;

/// Request times and their [`LatencyHistogram::bucket`], one per slot by the value's bits: a
/// log writes its times with a few decimals, so the same values come back all the time, and a
/// hit costs a multiplication and a comparison instead of a logarithm.
#[derive(Debug, Clone, Default)]
struct BucketCache {
    /// (value's bits, bucket); empty until the first request time. The key of an unused slot
    /// is a NaN's bits, which no request time has.
    slots: Vec<(u64, usize)>,
}

impl BucketCache {
    fn bucket(&mut self, ms: f64) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![(f64::NAN.to_bits(), 0); BUCKET_CACHE_SLOTS];
        }
        let bits = ms.to_bits();
        // The top bits of a multiplicative hash: the low bits of a decimal's double vary too
        // little on their own.
        let slot = (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize % BUCKET_CACHE_SLOTS;
        match self.slots[slot] {
            (key, bucket) if key == bits => bucket,
            _ => {
                let bucket = LatencyHistogram::bucket(ms);
                self.slots[slot] = (bits, bucket);
                bucket
            }
        }
    }
}

impl Default for AccessStats {
    fn default() -> Self {
        AccessStats {
            requests: 0,
            unparsed: 0,
            bytes: 0,
            untracked_endpoints: 0,
            statuses: vec![0; 1000],
            hourly: [0; 24],
            endpoints: HashMap::default(),
            time_sum_ms: 0.0,
            latency: LatencyHistogram::default(),
            buckets: BucketCache::default(),
            last_hour: None,
        }
    }
}

impl AccessStats {
    /// Parses and tallies one line; says whether it was a request.
    pub fn observe_line(&mut self, line: &str, time: RequestTime) -> bool {
        match parse_combined(line, time) {
            Some(record) => {
                self.observe(&record);
                true
            }
            None => {
                self.unparsed += 1;
                false
            }
        }
    }

    /// Tallies `record`; returns the [`LatencyHistogram`] bucket of its request time, so a
    /// caller keeping its own per-window histogram does not take the logarithm again.
    pub fn observe(&mut self, record: &AccessRecord<'_>) -> Option<usize> {
        self.requests += 1;
        self.bytes += record.bytes;
        if let Some(slot) = self.statuses.get_mut(usize::from(record.status)) {
            *slot += 1;
        }
        let hour = match self.last_hour {
            // `==` compares instants: the offset, which the hour depends on, is compared too.
            Some((at, hour)) if at == record.at && at.offset() == record.at.offset() => hour,
            _ => {
                let hour = record.at.hour() as usize;
                self.last_hour = Some((record.at, hour));
                hour
            }
        };
        self.hourly[hour] += 1;
        if let Some(count) = self.endpoints.get_mut(record.path) {
            *count += 1;
        } else if self.endpoints.len() < MAX_KEYS {
            self.endpoints.insert(record.path.to_owned(), 1);
        } else {
            self.untracked_endpoints += 1;
        }
        let ms = record.request_ms?;
        self.time_sum_ms += ms;
        let bucket = self.buckets.bucket(ms);
        self.latency.record_bucket(bucket);
        Some(bucket)
    }

    /// Requests per status code, codes that occurred only.
    pub fn status_distribution(&self) -> BTreeMap<u16, u64> {
        (0u16..)
            .zip(&self.statuses)
            .filter(|(_, count)| **count > 0)
            .map(|(status, count)| (status, *count))
            .collect()
    }

    /// Requests answered 5xx, in percent of all requests.
    pub fn server_error_pct(&self) -> Option<f64> {
        let errors: u64 = self.statuses[500..600].iter().sum();
        (self.requests > 0).then(|| errors as f64 * 100.0 / self.requests as f64)
    }

    /// Requests per hour of the day, in the log's own time zone.
    pub fn hourly(&self) -> [u64; 24] {
        self.hourly
    }

    /// The `n` most requested paths (query strings left out), most first.
    pub fn top_endpoints(&self, n: usize) -> Vec<(&str, u64)> {
        top(&self.endpoints, n)
    }

    /// Mean response time over the requests that logged one.
    pub fn mean_ms(&self) -> Option<f64> {
        let timed = self.latency.count();
        (timed > 0).then(|| self.time_sum_ms / timed as f64)
    }

    /// 95th percentile response time, within 1 % (see [`LatencyHistogram::quantile`]).
    pub fn p95_ms(&self) -> Option<f64> {
        self.latency.quantile(0.95)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_failed_password_variants() {
        let line = "Dec  5 03:12:44 web1 sshd[4121]: Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2";
        let failure = parse_sshd(line).unwrap();
        assert_eq!(
            failure.kind,
            LoginFailureKind::Failed { invalid_user: true }
        );
        assert_eq!(failure.user, "admin");
        assert_eq!(failure.ip, "203.0.113.9".parse::<IpAddr>().unwrap());

        let failure =
            parse_sshd("Failed publickey for root from 2001:db8::7 port 22 ssh2").unwrap();
        assert_eq!(
            failure.kind,
            LoginFailureKind::Failed {
                invalid_user: false
            }
        );
        assert_eq!(failure.user, "root");
        assert_eq!(failure.ip, "2001:db8::7".parse::<IpAddr>().unwrap());

        let failure = parse_sshd("Invalid user oracle from 198.51.100.4").unwrap();
        assert_eq!(failure.kind, LoginFailureKind::InvalidUser);
        assert_eq!(failure.user, "oracle");
    }

    #[test]
    fn sshd_repeats_and_odd_users() {
        let line = "Dec  5 03:12:50 web1 sshd[4121]: message repeated 5 times: [ Failed password for root from 203.0.113.9 port 51234 ssh2]";
        let failure = parse_sshd(line).unwrap();
        assert_eq!(failure.repeats, 5);
        assert_eq!(failure.user, "root");
        let failure =
            parse_sshd("Failed password for invalid user x from y from 192.0.2.1 port 1 ssh2")
                .unwrap();
        assert_eq!(failure.user, "x from y");
    }

    #[test]
    fn sshd_other_lines_are_ignored() {
        for line in [
            "Dec  5 03:12:44 web1 sshd[4121]: Accepted publickey for deploy from 192.0.2.8 port 40022 ssh2",
            "Dec  5 03:12:44 web1 sshd[4121]: Failed password for root from not-an-ip port 1 ssh2",
            "Dec  5 03:12:44 web1 CRON[77]: pam_unix(cron:session): session opened for user root",
            "",
            "\u{1b}[2J Failed",
        ] {
            assert_eq!(parse_sshd(line), None, "{line:?}");
        }
    }

    #[test]
    fn combined_line_with_nginx_request_time() {
        let line = r#"192.0.2.44 - - [05/Dec/2026:23:59:07 +0900] "GET /api/orders?page=2 HTTP/1.1" 502 157 "-" "curl/8.5.0" 1.234"#;
        let record = parse_combined(line, RequestTime::Seconds).unwrap();
        assert_eq!(record.ip, "192.0.2.44");
        assert_eq!(record.method, "GET");
        assert_eq!(record.path, "/api/orders");
        assert_eq!(record.status, 502);
        assert_eq!(record.bytes, 157);
        assert!((record.request_ms.unwrap() - 1234.0).abs() < 1e-9);
        assert_eq!(record.at.hour(), 23);
        assert_eq!(record.at.to_rfc3339(), "2026-12-05T23:59:07+09:00");
        let plain = parse_combined(line, RequestTime::Absent).unwrap();
        assert_eq!(plain.request_ms, None);
        let common = r#"10.0.0.1 - - [05/Dec/2026:10:00:00 +0000] "GET / HTTP/1.0" 200 12"#;
        let record = parse_combined(common, RequestTime::Seconds).unwrap();
        assert_eq!((record.bytes, record.request_ms), (12, None));
    }

    /// A stream read through one stamp cache gives what each line parsed alone gives, the
    /// stamp repeated, changed, damaged or followed by more brackets.
    #[test]
    fn the_stamp_cache_changes_no_record() {
        let stamp = "05/Dec/2026:10:00:01 +0000";
        let rest = r#" "GET /a/1?x=1 HTTP/1.1" 200 12 "-" "curl" 0.250"#;
        let lines = [
            format!("10.0.0.1 - - [{stamp}]{rest}"),
            format!("10.0.0.2 - - [{stamp}]{rest}"),
            format!("10.0.0.3 - - [{stamp}]]{rest}"),
            format!("10.0.0.4 - - [{stamp}x]{rest}"),
            format!("10.0.0.5 - - [{stamp}"),
            format!("10.0.0.6 - - [{stamp}] \"GET /b?q HTTP/1.1\" 503 - \"-\" \"x\" 1"),
            format!("10.0.0.7 - - [05/Dec/2026:10:00:02 +0000]{rest}"),
            format!("10.0.0.8 - - [05/Dec/2026]10:00:02 +0000]{rest}"),
            format!("10.0.0.9 - - [05/Dec/2026:10:00:02 +0000]{rest}"),
            format!("10.0.0.10 - - [{stamp}] \"GET /c\" 200 1"),
            format!("10.0.0.11 - - [{stamp}]"),
            format!("10.0.0.12 - - [{stamp}]{rest}"),
        ];
        let mut stamps = StampCache::default();
        for line in &lines {
            assert_eq!(
                parse_combined_with(line, RequestTime::Seconds, &mut stamps),
                parse_combined(line, RequestTime::Seconds),
                "{line}"
            );
        }
    }

    #[test]
    fn combined_rejects_junk() {
        for line in [
            "",
            "garbage",
            r#"1.2.3.4 - - [99/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
            r#"1.2.3.4 - - [05/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" abc 1"#,
            "\u{0}\u{1b}[31m[\"",
        ] {
            assert_eq!(parse_combined(line, RequestTime::Seconds), None, "{line:?}");
        }
    }

    #[test]
    fn ten_megabyte_lines_are_refused_in_linear_time() {
        let started = std::time::Instant::now();
        let huge = format!("sshd[1]: Failed password for {} from", "x".repeat(10 << 20));
        assert_eq!(parse_sshd(&huge), None);
        let huge = format!("1.2.3.4 - - [{}", "[\"".repeat(5 << 20));
        assert_eq!(parse_combined(&huge, RequestTime::Seconds), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn request_times_read_as_the_float_parser_reads_them() {
        // Comma-separated, the empty text among them.
        let odd = "0,0.0,0.001,1.234,2.999,12.5,1.,.5,007.100,-1.5,+2,1e3,inf,NaN,1.2.3,,\
                   123456789012345,1234567890123456,0.123456789012345,99999999.9999999,4.35,0.1";
        let mut texts: Vec<String> = odd.split(',').map(str::to_owned).collect();
        texts.extend((0..30_000).map(|n| format!("{}.{:03}", n / 1000, n % 1000)));
        texts.extend((0..3_000).map(|n| format!("{}.{:06}", n * 7, n * 331 % 1_000_000)));
        for text in &texts {
            let expected = text.parse::<f64>().ok();
            let fast = parse_seconds(text);
            assert_eq!(
                fast.map(f64::to_bits),
                expected.map(f64::to_bits),
                "{text:?}"
            );
        }
    }

    #[test]
    fn plain_decimals_read_as_the_parser_reads_them() {
        for text in [
            "0",
            "7",
            "007",
            "200",
            "599",
            "65535",
            "65536",
            "99999",
            "+5",
            "-1",
            "1_0",
            "٣",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "00000000000000000000001",
            "12a",
            "",
        ] {
            assert_eq!(
                parse_decimal::<u16>(text),
                text.parse::<u16>().ok(),
                "{text:?}"
            );
            assert_eq!(
                parse_decimal::<u64>(text),
                text.parse::<u64>().ok(),
                "{text:?}"
            );
        }
    }

    /// The cache gives the logarithm's bucket for every value, including values that share
    /// a slot and evict each other.
    #[test]
    fn the_bucket_cache_changes_no_bucket() {
        let mut cache = BucketCache::default();
        let values = (0..12_000)
            .map(|n| f64::from(n % 6_000) / 1000.0 * 1000.0)
            .chain([0.0, 0.001, 0.0010001, 1e-300, 1e12, f64::MAX, 5e-324]);
        for ms in values {
            assert_eq!(cache.bucket(ms), LatencyHistogram::bucket(ms), "{ms}");
        }
    }

    #[test]
    fn latency_quantile_within_one_percent() {
        let mut histogram = LatencyHistogram::default();
        let values: Vec<f64> = (1..=1000).map(|value| f64::from(value) * 0.7).collect();
        for value in &values {
            histogram.record(*value);
        }
        let exact = values[949];
        let reported = histogram.quantile(0.95).unwrap();
        assert!(
            reported >= exact * 0.999_999 && reported <= exact * 1.01,
            "{reported} vs {exact}"
        );
        histogram.record(f64::INFINITY);
        histogram.record(-5.0);
        assert_eq!(histogram.count(), 1002);
    }
}
