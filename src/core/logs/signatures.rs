//! Error signatures: a log message reduced to its template (the variable parts replaced by
//! placeholders), and a bounded table counting templates per minute that notices a template it
//! has not seen within its retained window: the "new error signature, first seen 02:41" finding.
//!
//! Placeholders: `<num>` (decimal numbers, also with a unit suffix such as `12ms`), `<hex>` (hex
//! ids of 6 or more hex digits holding at least one digit, or `0x…`), `<uuid>`, `<ip>` (IPv4,
//! also with a port, and IPv6), `<email>` and `<str>` (a '…' or "…" quoted value). Numeric path
//! segments fall out of the number rule (`/users/42` becomes `/users/<num>`).
//!
//! Work and memory are bounded whatever the log holds: only the first [`MAX_MESSAGE_BYTES`] of a
//! message are normalised, the table holds at most its template cap (default
//! [`DEFAULT_MAX_TEMPLATES`]), each with [`MINUTE_BUCKETS`] minute and [`HOUR_BUCKETS`] hour
//! counts at most and a sample cut to [`MAX_SAMPLE_BYTES`]. Worst case at the default cap is
//! about 10,000 × (1 KiB template + 512 B sample + 86 buckets × 16 B) ≈ 30 MB, and its cache of
//! recent messages' templates (what makes a repeated message cheap) at most 256 KiB more.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use chrono::{DateTime, TimeDelta, Utc};

use super::format::Level;

/// Bytes of a message that are normalised; the rest is ignored, so a 10 MB line costs the same
/// as a 1 KiB one and cannot make a 10 MB template.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Bytes of the sample line kept per template.
pub const MAX_SAMPLE_BYTES: usize = 512;
/// Default cap on distinct templates a [`SignatureTable`] holds.
pub const DEFAULT_MAX_TEMPLATES: usize = 10_000;
/// Per-minute counts kept per template: the last hour, what the pane's histogram and "last
/// hour" trend need.
pub const MINUTE_BUCKETS: i64 = 60;
/// Per-hour counts kept per template: enough to reach the same hour yesterday.
pub const HOUR_BUCKETS: i64 = 26;

/// `text` cut to at most `max` bytes on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The template of `message`: see the module documentation for the placeholders.
pub fn normalise(message: &str) -> String {
    let mut out = String::new();
    normalise_into(message, &mut out);
    out
}

/// [`normalise`] into a reused buffer (cleared first), so counting a stream allocates only for
/// templates it has not seen.
pub fn normalise_into(message: &str, out: &mut String) {
    normalise_with(message, out, push_token);
}

/// The normaliser with `push_token` deciding each token's placeholder: the tests run it with
/// [`push_token_by_rules`] alone to check the shortcuts of [`push_token`] change no template.
fn normalise_with(message: &str, out: &mut String, push_token: impl Fn(&str, u8, &mut String)) {
    out.clear();
    let text = cut(message, MAX_MESSAGE_BYTES);
    let bytes = text.as_bytes();
    // Once a quote has no closing partner after some position it has none after any later one
    // either: remembering that keeps hostile input with many lone quotes linear.
    let mut unclosed = [false; 2];
    let mut pending_space = false;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if CLASSES[usize::from(byte)] != 0 {
            let start = index;
            let mut seen = 0;
            while let Some(&next) = bytes.get(index) {
                let class = CLASSES[usize::from(next)];
                if class == 0 {
                    break;
                }
                seen |= class;
                index += 1;
            }
            flush_space(out, &mut pending_space);
            push_token(&text[start..index], seen, out);
            continue;
        }
        if byte == b'"' || byte == b'\'' {
            let slot = usize::from(byte == b'\'');
            let opens = index == 0 || !bytes[index - 1].is_ascii_alphanumeric();
            if opens && !unclosed[slot] {
                match closing_quote(bytes, index) {
                    Some(end) => {
                        flush_space(out, &mut pending_space);
                        out.push_str("<str>");
                        index = end + 1;
                        continue;
                    }
                    None => unclosed[slot] = true,
                }
            }
        }
        if byte.is_ascii_whitespace() {
            pending_space = !out.is_empty();
            index += 1;
            continue;
        }
        // Punctuation such as a path's `/`: the common case, without decoding a character.
        if byte.is_ascii() && !byte.is_ascii_control() {
            flush_space(out, &mut pending_space);
            out.push(char::from(byte));
            index += 1;
            continue;
        }
        let Some(character) = text[index..].chars().next() else {
            break;
        };
        flush_space(out, &mut pending_space);
        // Escape sequences and other control characters never reach a template: it is shown.
        out.push(if character.is_control() {
            char::REPLACEMENT_CHARACTER
        } else {
            character
        });
        index += character.len_utf8();
    }
}

fn flush_space(out: &mut String, pending: &mut bool) {
    if *pending {
        out.push(' ');
        *pending = false;
    }
}

/// What a byte is to the tokenizer: a token is a run of bytes of any of these classes (letters,
/// digits and the punctuation the rules look inside), and the classes a token holds say which
/// rules can apply to it.
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const MARK: u8 = 4;
const CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0; 256];
    let mut index = 0;
    while index < table.len() {
        let byte = index as u8;
        table[index] = if byte.is_ascii_alphabetic() {
            LETTER
        } else if byte.is_ascii_digit() {
            DIGIT
        } else if matches!(byte, b'.' | b':' | b'-' | b'_' | b'@') {
            MARK
        } else {
            0
        };
        index += 1;
    }
    table
}

fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mut index = open + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            byte if byte == quote => return Some(index),
            _ => index += 1,
        }
    }
    None
}

/// A token's placeholder, given the classes of its bytes: most tokens are words, numbers or
/// both (a path's segments, a message's words), and a token without punctuation can be no
/// uuid, email or address, so only the number and piece rules are tried on it; a token with
/// punctuation takes [`push_token_by_rules`].
fn push_token(token: &str, classes: u8, out: &mut String) {
    match classes {
        LETTER => out.push_str(token),
        DIGIT => out.push_str("<num>"),
        _ if classes & MARK == 0 => match number_with_unit(token) {
            Some(unit) => {
                out.push_str("<num>");
                out.push_str(unit);
            }
            None => push_piece(token, out),
        },
        _ => push_token_by_rules(token, out),
    }
}

/// Every placeholder rule in order, for any token.
fn push_token_by_rules(token: &str, out: &mut String) {
    if is_uuid(token) {
        out.push_str("<uuid>");
    } else if is_email(token) {
        out.push_str("<email>");
    } else if let Some(port) = ipv4_with_port(token) {
        out.push_str("<ip>");
        if port {
            out.push_str(":<num>");
        }
    } else if token.bytes().filter(|&byte| byte == b':').count() >= 2
        && token.parse::<std::net::Ipv6Addr>().is_ok()
    {
        out.push_str("<ip>");
    } else if let Some(unit) = number_with_unit(token) {
        out.push_str("<num>");
        out.push_str(unit);
    } else {
        push_pieces(token, out);
    }
}

/// A token split at its punctuation, each alphanumeric piece judged on its own.
fn push_pieces(token: &str, out: &mut String) {
    let mut start = 0;
    for (index, byte) in token.bytes().enumerate() {
        if !byte.is_ascii_alphanumeric() {
            push_piece(&token[start..index], out);
            out.push(char::from(byte));
            start = index + 1;
        }
    }
    push_piece(&token[start..], out);
}

fn push_piece(piece: &str, out: &mut String) {
    if piece.is_empty() {
        return;
    }
    if is_hex_id(piece) {
        out.push_str("<hex>");
    } else if let Some(unit) = number_with_unit(piece) {
        out.push_str("<num>");
        out.push_str(unit);
    } else {
        push_digits_replaced(piece, out);
    }
}

/// `worker42` → `worker<num>`: an identifier with a counter in it is one signature, not one per
/// worker.
fn push_digits_replaced(piece: &str, out: &mut String) {
    let mut in_digits = false;
    for character in piece.chars() {
        if character.is_ascii_digit() {
            if !in_digits {
                out.push_str("<num>");
                in_digits = true;
            }
        } else {
            in_digits = false;
            out.push(character);
        }
    }
}

/// `12`, `-3`, `1.5`, `250ms`, `1.5s`: the unit suffix (possibly empty) when `token` is one.
fn number_with_unit(token: &str) -> Option<&str> {
    let bytes = token.as_bytes();
    let mut index = usize::from(bytes.first() == Some(&b'-'));
    let digits_start = index;
    while index < bytes.len() && bytes[index].is_ascii_digit() {
        index += 1;
    }
    if index == digits_start {
        return None;
    }
    if index + 1 < bytes.len() && bytes[index] == b'.' && bytes[index + 1].is_ascii_digit() {
        index += 1;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
    }
    let unit = &token[index..];
    unit.bytes()
        .all(|byte| byte.is_ascii_alphabetic())
        .then_some(unit)
}

fn is_hex_id(piece: &str) -> bool {
    if let [b'0', b'x' | b'X', digits @ ..] = piece.as_bytes() {
        return !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit);
    }
    piece.len() >= 6
        && piece.bytes().all(|byte| byte.is_ascii_hexdigit())
        && piece.bytes().any(|byte| byte.is_ascii_digit())
}

fn is_uuid(token: &str) -> bool {
    let bytes = token.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, &byte)| {
            if matches!(index, 8 | 13 | 18 | 23) {
                byte == b'-'
            } else {
                byte.is_ascii_hexdigit()
            }
        })
}

fn is_email(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.bytes().any(|byte| byte.is_ascii_alphabetic())
}

/// `Some(has_port)` when `token` is an IPv4 address, optionally followed by `:port`.
fn ipv4_with_port(token: &str) -> Option<bool> {
    let (address, port) = match token.split_once(':') {
        Some((address, port)) => (address, Some(port)),
        None => (token, None),
    };
    // Most tokens (paths, words) are ruled out here without running the address parser.
    if !(7..=15).contains(&address.len()) || !address.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return None;
    }
    address.parse::<std::net::Ipv4Addr>().ok()?;
    Some(port.is_some())
}

/// A template seen for the first time within the retained window.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignature {
    pub template: String,
    pub first_seen: DateTime<Utc>,
    /// The message that introduced it, cut to [`MAX_SAMPLE_BYTES`]; raw, so escape it to show it.
    pub sample: String,
}

/// How a template's recent count compares with the same time yesterday.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Occurrences in the 60 minutes up to now.
    pub last_hour: u64,
    /// Occurrences in the same 60 minutes a day earlier, from hourly counts (an hour that only
    /// partly overlaps counts in proportion); `None` while the table has not yet watched that
    /// long.
    pub same_hour_yesterday: Option<f64>,
}

/// What the table knows of one template.
#[derive(Debug, Clone)]
pub struct Signature {
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub sample: String,
    pub total: u64,
    /// The worst level its lines had (as given to [`SignatureTable::record_at_level`]).
    pub level: Option<Level>,
    /// The table's record counter when last seen: an eviction order without the ties that
    /// timestamps of busy seconds have.
    recency: u64,
    minutes: VecDeque<(i64, u64)>,
    hours: VecDeque<(i64, u64)>,
}

impl Signature {
    fn new(sample: &str, at: DateTime<Utc>, seconds: i64, recency: u64) -> Self {
        let mut signature = Signature {
            first_seen: at,
            last_seen: at,
            sample: cut(sample, MAX_SAMPLE_BYTES).to_owned(),
            total: 0,
            level: None,
            recency,
            minutes: VecDeque::new(),
            hours: VecDeque::new(),
        };
        signature.count(at, seconds);
        signature
    }

    /// Counts an occurrence at `at`, `seconds` after the epoch.
    fn count(&mut self, at: DateTime<Utc>, seconds: i64) {
        self.total += 1;
        self.last_seen = self.last_seen.max(at);
        bump(&mut self.minutes, seconds.div_euclid(60), MINUTE_BUCKETS);
        bump(&mut self.hours, seconds.div_euclid(3600), HOUR_BUCKETS);
    }

    /// Per-minute counts (minute start, count) of the last [`MINUTE_BUCKETS`] minutes this
    /// template was seen in, oldest first; minutes without an occurrence are left out.
    pub fn minutes(&self) -> impl Iterator<Item = (DateTime<Utc>, u64)> + '_ {
        self.minutes.iter().filter_map(|&(minute, count)| {
            DateTime::from_timestamp(minute * 60, 0).map(|start| (start, count))
        })
    }

    fn trend(&self, now: DateTime<Utc>, yesterday_known: bool) -> Trend {
        let now_minute = now.timestamp().div_euclid(60);
        let last_hour = self
            .minutes
            .iter()
            .filter(|&&(minute, _)| minute > now_minute - 60 && minute <= now_minute)
            .map(|&(_, count)| count)
            .sum();
        let same_hour_yesterday = yesterday_known.then(|| {
            let end = now.timestamp() - 86_400;
            let start = end - 3600;
            self.hours
                .iter()
                .map(|&(hour, count)| {
                    let overlap = (end.min((hour + 1) * 3600) - start.max(hour * 3600)).max(0);
                    count as f64 * overlap as f64 / 3600.0
                })
                .sum()
        });
        Trend {
            last_hour,
            same_hour_yesterday,
        }
    }
}

/// Adds one to `bucket` in a sorted sparse series, dropping buckets more than `keep` before the
/// newest. Lines arrive nearly in order, so the search from the back is short.
fn bump(series: &mut VecDeque<(i64, u64)>, bucket: i64, keep: i64) {
    // The newest bucket again (most lines): nothing to insert, and nothing ages out, since the
    // newest is unchanged.
    if let Some(last) = series.back_mut()
        && last.0 == bucket
    {
        last.1 += 1;
        return;
    }
    let newest = series.back().map_or(bucket, |&(last, _)| last.max(bucket));
    if bucket <= newest - keep {
        return;
    }
    match series.iter().rposition(|&(existing, _)| existing <= bucket) {
        Some(position) if series[position].0 == bucket => series[position].1 += 1,
        Some(position) => series.insert(position + 1, (bucket, 1)),
        None => series.push_front((bucket, 1)),
    }
    while series
        .front()
        .is_some_and(|&(first, _)| first <= newest - keep)
    {
        series.pop_front();
    }
}

/// Templates counted per minute, with new-signature detection; bounded as the module says.
#[derive(Debug)]
pub struct SignatureTable {
    max_templates: usize,
    retain: TimeDelta,
    warmup: TimeDelta,
    observing_since: Option<DateTime<Utc>>,
    /// Looked up once per line: foldhash is several times faster than SipHash on short keys
    /// and still seeded, since anyone who can get a line logged chooses its template.
    entries: HashMap<String, Signature, foldhash::fast::RandomState>,
    records: u64,
    scratch: String,
    recent: TemplateCache,
    moment: Option<Moment>,
}

/// What the table derives from a record's time, kept for the next record: a log's lines come
/// many to a stamp, and chrono's epoch and difference arithmetic costs more than a comparison.
#[derive(Debug, Clone, Copy)]
struct Moment {
    at: DateTime<Utc>,
    seconds: i64,
    /// A template last seen before this is forgotten; `None` when the retained window reaches
    /// past the earliest time chrono represents.
    stale_before: Option<DateTime<Utc>>,
}

/// Bytes of a message the [`TemplateCache`] keeps; longer ones are normalised every time.
const CACHED_MESSAGE_BYTES: usize = 128;
/// Slots of the [`TemplateCache`]: few enough that the slots stay in the processor's nearest
/// cache, many enough for a service's busy endpoints.
const CACHE_SLOTS: usize = 256;

/// Recent messages and their templates, one per slot by the message's hash: the same messages
/// come back all the time (an access log's `GET /health`), and a hit costs a hash and a
/// comparison instead of normalising again. A message that is not a hit replaces the slot's.
/// Memory: a template is at most three times its message (a digit between two slashes becomes
/// `<num>`), and a reused string at most twice what it held, so under 256 × 2 × (128 + 384)
/// bytes, 256 KiB.
#[derive(Debug)]
struct TemplateCache {
    hasher: foldhash::fast::RandomState,
    slots: Vec<(String, String)>,
}

impl Default for TemplateCache {
    fn default() -> Self {
        TemplateCache {
            hasher: foldhash::fast::RandomState::default(),
            slots: vec![(String::new(), String::new()); CACHE_SLOTS],
        }
    }
}

impl TemplateCache {
    /// [`normalise_into`] through the cache.
    fn normalise_into(&mut self, message: &str, out: &mut String) {
        if message.len() > CACHED_MESSAGE_BYTES {
            normalise_into(message, out);
            return;
        }
        let slot = self.hasher.hash_one(message) as usize % CACHE_SLOTS;
        let (cached, template) = &mut self.slots[slot];
        if cached == message {
            out.clear();
            out.push_str(template);
            return;
        }
        normalise_into(message, out);
        cached.clear();
        cached.push_str(message);
        template.clear();
        template.push_str(out);
    }
}

impl Default for SignatureTable {
    fn default() -> Self {
        Self::new(
            DEFAULT_MAX_TEMPLATES,
            TimeDelta::hours(25),
            TimeDelta::hours(1),
        )
    }
}

impl SignatureTable {
    /// `max_templates` caps memory (least recently seen evicted first); a template not seen for
    /// `retain` is forgotten, so it is new again when it returns; nothing is reported as new
    /// during the first `warmup` of observation, since every template is unseen at start.
    pub fn new(max_templates: usize, retain: TimeDelta, warmup: TimeDelta) -> Self {
        SignatureTable {
            max_templates: max_templates.max(1),
            retain,
            warmup,
            observing_since: None,
            entries: HashMap::default(),
            records: 0,
            scratch: String::new(),
            recent: TemplateCache::default(),
            moment: None,
        }
    }

    /// Counts `message` at `at`; returns the finding when its template is new (once per
    /// template until it is forgotten).
    pub fn record(&mut self, message: &str, at: DateTime<Utc>) -> Option<NewSignature> {
        self.record_at_level(message, None, at)
    }

    /// [`record`](Self::record) for a line of a known level, kept as the template's worst.
    pub fn record_at_level(
        &mut self,
        message: &str,
        level: Option<Level>,
        at: DateTime<Utc>,
    ) -> Option<NewSignature> {
        let since = *self.observing_since.get_or_insert(at);
        let moment = self.moment(at);
        self.recent.normalise_into(message, &mut self.scratch);
        self.records += 1;
        if let Some(entry) = self.entries.get_mut(self.scratch.as_str()) {
            // `at - last_seen <= retain`, without the subtraction.
            if moment
                .stale_before
                .is_none_or(|stale_before| entry.last_seen >= stale_before)
            {
                entry.recency = self.records;
                entry.level = entry.level.max(level);
                entry.count(at, moment.seconds);
                return None;
            }
            self.entries.remove(self.scratch.as_str());
        }
        if self.entries.len() >= self.max_templates {
            self.evict(at);
        }
        let mut signature = Signature::new(message, at, moment.seconds, self.records);
        signature.level = level;
        let finding = (at - since >= self.warmup).then(|| NewSignature {
            template: self.scratch.clone(),
            first_seen: at,
            sample: signature.sample.clone(),
        });
        self.entries.insert(self.scratch.clone(), signature);
        finding
    }

    fn moment(&mut self, at: DateTime<Utc>) -> Moment {
        match self.moment {
            Some(moment) if moment.at == at => moment,
            _ => {
                let moment = Moment {
                    at,
                    seconds: at.timestamp(),
                    stale_before: at.checked_sub_signed(self.retain),
                };
                self.moment = Some(moment);
                moment
            }
        }
    }

    /// Drops the stale, then the least recently seen tenth: evicting in batches keeps a flood
    /// of unique lines at amortised O(log n) per line instead of a full scan each.
    fn evict(&mut self, now: DateTime<Utc>) {
        let retain = self.retain;
        self.entries
            .retain(|_, entry| now - entry.last_seen <= retain);
        if self.entries.len() < self.max_templates {
            return;
        }
        let mut recency: Vec<u64> = self.entries.values().map(|entry| entry.recency).collect();
        let drop = (self.max_templates / 10).clamp(1, recency.len());
        let (_, threshold, _) = recency.select_nth_unstable(drop - 1);
        let threshold = *threshold;
        self.entries.retain(|_, entry| entry.recency > threshold);
    }

    /// The template of the message last recorded, so a caller can key its own data by it
    /// without normalising the message again.
    pub fn last_template(&self) -> &str {
        &self.scratch
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, template: &str) -> Option<&Signature> {
        self.entries.get(template)
    }

    /// Every template held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Signature)> {
        self.entries
            .iter()
            .map(|(template, signature)| (template.as_str(), signature))
    }

    /// `template`'s last hour against the same hour yesterday, as of `now`.
    pub fn trend(&self, template: &str, now: DateTime<Utc>) -> Option<Trend> {
        let yesterday_known = self
            .observing_since
            .is_some_and(|since| since <= now - TimeDelta::hours(25));
        self.entries
            .get(template)
            .map(|signature| signature.trend(now, yesterday_known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_900_000 + minutes * 60, 0).unwrap()
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(
            normalise("request took 250ms after 3 retries, load 1.5"),
            "request took <num>ms after <num> retries, load <num>"
        );
        assert_eq!(normalise("exit code -1"), "exit code <num>");
        assert_eq!(normalise("worker42 stopped"), "worker<num> stopped");
    }

    #[test]
    fn hex_ids() {
        assert_eq!(
            normalise("commit 3fa9c1d0 tx 0x1F ok"),
            "commit <hex> tx <hex> ok"
        );
        // Six hex letters without a digit are a word, not an id.
        assert_eq!(normalise("facade decade"), "facade decade");
        assert_eq!(normalise("short abc12"), "short abc<num>");
    }

    #[test]
    fn uuids() {
        assert_eq!(
            normalise("job 550e8400-e29b-41d4-a716-446655440000 failed"),
            "job <uuid> failed"
        );
    }

    #[test]
    fn ip_addresses() {
        assert_eq!(
            normalise("connect to 10.0.0.12:5432 from 192.168.1.7"),
            "connect to <ip>:<num> from <ip>"
        );
        assert_eq!(
            normalise("peer fe80::1ff:fe23:4567:890a and ::1"),
            "peer <ip> and <ip>"
        );
        // A clock time is numbers, not an IPv6 address.
        assert_eq!(normalise("at 10:56:03"), "at <num>:<num>:<num>");
        assert_eq!(
            normalise("version 1.2.3.400"),
            "version <num>.<num>.<num>.<num>"
        );
    }

    #[test]
    fn quoted_values() {
        assert_eq!(
            normalise(r#"relation "users" does not exist, key 'a b' bad"#),
            "relation <str> does not exist, key <str> bad"
        );
        assert_eq!(normalise(r#"value "say \"hi\"" ok"#), "value <str> ok");
        // An apostrophe inside a word opens nothing.
        assert_eq!(normalise("can't open 'x'"), "can't open <str>");
        assert_eq!(normalise("lone \" quote 5"), "lone \" quote <num>");
    }

    #[test]
    fn paths_and_emails() {
        assert_eq!(
            normalise("GET /api/users/12345/orders/9 failed"),
            "GET /api/users/<num>/orders/<num> failed"
        );
        assert_eq!(
            normalise("mail to ops.team@example.com bounced"),
            "mail to <email> bounced"
        );
    }

    #[test]
    fn whitespace_and_control_characters() {
        assert_eq!(normalise("  a \t\t b  "), "a b");
        assert_eq!(
            normalise("evil \u{1b}[2J\u{0} line"),
            "evil \u{fffd}[<num>J\u{fffd} line"
        );
        let lossy = String::from_utf8_lossy(b"bad \xff\xfe bytes 12");
        assert_eq!(normalise(&lossy), "bad \u{fffd}\u{fffd} bytes <num>");
    }

    #[test]
    fn huge_messages_cost_a_bounded_prefix() {
        let huge = "x".repeat(10 * 1024 * 1024);
        let template = normalise(&huge);
        assert_eq!(template.len(), MAX_MESSAGE_BYTES);
        let quotes = "\"".repeat(10 * 1024 * 1024);
        // Pairs of quotes become `<str>`: longer than the prefix, still bounded by it.
        assert_eq!(normalise(&quotes), "<str>".repeat(MAX_MESSAGE_BYTES / 2));
        // A multi-byte character straddling the cut is dropped whole.
        let korean = "오류 ".repeat(1000);
        assert!(normalise(&korean).len() <= MAX_MESSAGE_BYTES);
    }

    /// Every line through the shortcuts and through the rules alone: the same template.
    #[test]
    fn shortcuts_change_no_template() {
        let by_rules = |token: &str, _: u8, out: &mut String| push_token_by_rules(token, out);
        let lines = [
            "GET /api/v1/users/12345",
            "POST /api/v2/orders/550e8400-e29b-41d4-a716-446655440000/items/7",
            "GET /static/app.3fa9c1d0.js",
            "GET /files/DEADBEEF42/0x1F/abcdef/facade/v1/2024-12-05",
            "PUT /hosts/10.0.0.12:8080/ip/192.168.1.7/v6/fe80::1ff:fe23:4567:890a",
            "GET /search?q=\"drop table\"&user='bob'&n=10",
            "DELETE /u/ops.team@example.com/keys/-3/1.5s/250ms/12ms3",
            "worker42 stopped after 3 retries, load 1.5, took 250ms, exit -1",
            "ERROR relation \"users\" does not exist, can't open 'x', lone \" quote 5",
            "connect to 10.0.0.12:5432 from 192.168.1.7 at 10:56:03 version 1.2.3.400",
            "evil \u{1b}[2J\u{0} line \u{7f} tab\there ~!#$%^&*()+=[]{}|;<>,/?",
            "오류 코드 42: 사용자 abc12 없음 \u{fffd}",
            "a_b-c.d:e@f 0 00 000000 123456 12345a a12345 x1y2z3 __init__ 0x 0xZZ",
            "",
            "   ",
        ];
        let mut plain = String::new();
        for line in lines {
            normalise_with(line, &mut plain, by_rules);
            assert_eq!(normalise(line), plain, "{line:?}");
        }
        // And messages made of the characters the rules look at, in every mix.
        let alphabet = "0123456789abcdefxzABCFX.:-_@/ \"'?=&é\u{1b}"
            .chars()
            .collect::<Vec<_>>();
        let mut state: u64 = 15;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        for _ in 0..20_000 {
            let length = next(40);
            let line: String = (0..length)
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            normalise_with(&line, &mut plain, by_rules);
            assert_eq!(normalise(&line), plain, "{line:?}");
        }
    }

    /// Through the cache, hits, replaced slots and long messages alike: the same templates.
    #[test]
    fn the_cache_changes_no_template() {
        let mut cache = TemplateCache::default();
        let mut cached = String::new();
        let long = format!("GET /{}/42", "segment".repeat(30));
        let lines: Vec<String> = (0..20_000u64)
            .map(|n| match n % 7 {
                0 => "GET /health".to_owned(),
                1 => format!("GET /api/v1/users/{}", n * 7919 % 100_000),
                2 => format!("POST /api/v1/orders/{n:x}deadbeef?x=\"{n}\""),
                3 => format!("GET /hosts/10.0.{}.{}:8080/'q {n}'", n % 256, n % 7),
                4 => format!("PUT /jobs/550e8400-e29b-41d4-a716-{:012}", n % 50),
                5 => long.clone(),
                _ => format!("GET /static/app.{}.js", n % 3),
            })
            .collect();
        for line in &lines {
            cache.normalise_into(line, &mut cached);
            assert_eq!(cached, normalise(line), "{line:?}");
        }
    }

    #[test]
    fn variants_share_a_template() {
        assert_eq!(
            normalise("timeout after 30s talking to 10.0.0.1 (req 8f3a2b1c9d)"),
            normalise("timeout after 5s talking to 10.9.8.7 (req 00aa11bb22)")
        );
    }

    #[test]
    fn new_signature_after_a_quiet_hour_is_flagged_once() {
        let mut table = SignatureTable::default();
        for minute in 0..120 {
            let line = format!("ERROR connection reset by peer 10.0.0.{}", minute % 200);
            let finding = table.record(&line, at(minute));
            assert!(
                finding.is_none(),
                "known template flagged at minute {minute}"
            );
        }
        let first = table.record("ERROR disk /dev/sda1 full: 4096 bytes left", at(121));
        let first = first.expect("a new template after the warm-up is a finding");
        assert_eq!(
            first.template,
            "ERROR disk /dev/sda<num> full: <num> bytes left"
        );
        assert_eq!(first.first_seen, at(121));
        assert_eq!(first.sample, "ERROR disk /dev/sda1 full: 4096 bytes left");
        for minute in 122..200 {
            let again = table.record("ERROR disk /dev/sda1 full: 10 bytes left", at(minute));
            assert!(again.is_none(), "flagged twice at minute {minute}");
        }
        let signature = table.get(&first.template).unwrap();
        assert_eq!(signature.total, 79);
        assert_eq!(signature.first_seen, at(121));
    }

    #[test]
    fn nothing_is_new_during_the_warm_up() {
        let mut table = SignatureTable::default();
        assert!(table.record("first line 1", at(0)).is_none());
        assert!(table.record("other line", at(59)).is_none());
        assert!(table.record("third kind", at(60)).is_some());
    }

    #[test]
    fn a_template_forgotten_after_the_retained_window_is_new_again() {
        let retain = TimeDelta::hours(25);
        let mut table = SignatureTable::new(100, retain, TimeDelta::zero());
        assert!(table.record("backup failed: 3", at(0)).is_some());
        assert!(table.record("backup failed: 4", at(60 * 24)).is_none());
        assert!(
            table
                .record("backup failed: 5", at(60 * 24 + 25 * 60 + 1))
                .is_some()
        );
    }

    #[test]
    fn the_cap_evicts_the_least_recently_seen() {
        let mut table = SignatureTable::new(100, TimeDelta::hours(25), TimeDelta::zero());
        table.record("keep me", at(0));
        for index in 0..1000 {
            // Letters only: each line is its own template.
            let word: String = format!("{index:04}")
                .bytes()
                .map(|digit| char::from(b'a' + digit - b'0'))
                .collect();
            table.record(&format!("unique {word}"), at(1 + index / 100));
            table.record("keep me", at(1 + index / 100));
            assert!(table.len() <= 100);
        }
        assert!(
            table.get("keep me").is_some(),
            "the busiest template was evicted"
        );
        assert!(
            table.get("unique aaaa").is_none(),
            "the oldest template was kept"
        );
        assert!(table.get("unique ajjj").is_some());
    }

    #[test]
    fn minute_counts_and_trend() {
        let mut table = SignatureTable::new(100, TimeDelta::hours(25), TimeDelta::zero());
        let template = normalise("slow query 1");
        // Yesterday: 2 a minute for the whole day; today's last hour: 24 a minute.
        for minute in 0..(26 * 60) {
            let per_minute = if minute >= 25 * 60 { 24 } else { 2 };
            for _ in 0..per_minute {
                table.record("slow query 7", at(minute));
            }
        }
        let now = at(26 * 60 - 1);
        let trend = table.trend(&template, now).unwrap();
        assert_eq!(trend.last_hour, 24 * 60);
        let yesterday = trend.same_hour_yesterday.unwrap();
        assert!((yesterday - 120.0).abs() < 1e-6, "yesterday {yesterday}");
        let minutes: Vec<_> = table.get(&template).unwrap().minutes().collect();
        assert_eq!(minutes.len(), MINUTE_BUCKETS as usize);
        assert_eq!(minutes.last(), Some(&(now, 24)));
    }

    #[test]
    fn trend_yesterday_unknown_on_a_young_table() {
        let mut table = SignatureTable::default();
        table.record("x 1", at(0));
        let trend = table.trend("x <num>", at(30)).unwrap();
        assert_eq!(trend.last_hour, 1);
        assert_eq!(trend.same_hour_yesterday, None);
    }
}
