//! The arithmetic of the history, free of the store: a minute's samples gathered ([`Gathered`]),
//! one point of a tier ([`Slot`]), a chunk of a tier's points and its stored bytes ([`Chunk`]),
//! and a coarser point derived from the finer points it covers ([`derive`]).
//!
//! Values are kept as 32-bit floats (seven significant digits): a point takes 18 bytes plain
//! and about half that once its chunk is deflated ([`Packing`]), which is what keeps 200 metrics
//! over a year under 50 MiB. Means of coarser points weigh each minute
//! alike (a burst of refreshes does not tilt a quarter hour); a minute's own mean weighs its
//! samples.

use super::Resolution;

/// Bytes one slot takes in a plain chunk: count (u16) then min, max, mean, last (f32).
pub(crate) const SLOT_BYTES: usize = 18;

/// The samples of one series within one minute, as they arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gathered {
    pub count: u32,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub last: f64,
}

impl Gathered {
    pub fn new(value: f64) -> Gathered {
        Gathered {
            count: 1,
            min: value,
            max: value,
            sum: value,
            last: value,
        }
    }

    /// Adds a sample taken after those already gathered.
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.last = value;
    }
}

/// One point of a tier; `count == 0` is no point. For a minute `count` is its samples, for a
/// quarter hour or a day the minutes it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Slot {
    pub count: u32,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub last: f64,
}

impl Slot {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The slot with `gathered` (samples taken after this slot's) folded in.
    pub fn merged(self, gathered: &Gathered) -> Slot {
        if self.is_empty() {
            return Slot {
                count: gathered.count,
                min: gathered.min,
                max: gathered.max,
                mean: gathered.sum / f64::from(gathered.count),
                last: gathered.last,
            };
        }
        let count = self.count + gathered.count;
        Slot {
            count,
            min: self.min.min(gathered.min),
            max: self.max.max(gathered.max),
            mean: (self.mean * f64::from(self.count) + gathered.sum) / f64::from(count),
            last: gathered.last,
        }
    }
}

/// The coarser point covering `finer` (time-ordered points of tier `of`), or an empty slot
/// when none of them holds a point.
pub(crate) fn derive(of: Resolution, finer: &[Slot]) -> Slot {
    let mut derived = Slot::default();
    let mut weighted = 0.0;
    for slot in finer.iter().filter(|slot| !slot.is_empty()) {
        // A minute counts its samples; what is derived from minutes counts minutes.
        let weight = match of {
            Resolution::Minute => 1,
            Resolution::QuarterHour | Resolution::Day => slot.count,
        };
        if derived.is_empty() {
            derived.min = slot.min;
            derived.max = slot.max;
        } else {
            derived.min = derived.min.min(slot.min);
            derived.max = derived.max.max(slot.max);
        }
        derived.count += weight;
        weighted += slot.mean * f64::from(weight);
        derived.last = slot.last;
    }
    if !derived.is_empty() {
        derived.mean = weighted / f64::from(derived.count);
    }
    derived
}

/// One stored chunk of a tier: its slots from the chunk's start, one per point span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunk {
    pub slots: Vec<Slot>,
}

/// How a chunk's bytes are laid out (`metric_history.packing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    /// Slot after slot, [`SLOT_BYTES`] each (what migration 0009 wrote).
    Plain,
    /// The same slots field by field, each value XORed with the one before it and split into
    /// byte planes, then deflated. Neighbouring points share sign, exponent and leading mantissa
    /// bits, so the high planes are nearly all zeros and the chunk shrinks to about half.
    Deflated,
}

impl Packing {
    pub fn code(self) -> i64 {
        match self {
            Packing::Plain => 0,
            Packing::Deflated => 1,
        }
    }

    /// The packing stored as `code`; an unknown code reads as plain, whose decoding ignores
    /// what does not fit.
    pub fn from_code(code: i64) -> Packing {
        match code {
            1 => Packing::Deflated,
            _ => Packing::Plain,
        }
    }
}

impl Chunk {
    pub fn empty(resolution: Resolution) -> Chunk {
        Chunk {
            slots: vec![Slot::default(); resolution.slots_per_chunk()],
        }
    }

    /// Reads stored bytes; bytes past the tier's slots, a cut slot or a deflated stream that
    /// does not inflate are read as no points.
    pub fn decode(resolution: Resolution, packing: Packing, bytes: &[u8]) -> Chunk {
        let mut chunk = Chunk::empty(resolution);
        let plain = match packing {
            Packing::Plain => bytes.to_vec(),
            Packing::Deflated => unshuffle(&inflate(bytes, chunk.slots.len() * SLOT_BYTES)),
        };
        for (slot, raw) in chunk.slots.iter_mut().zip(plain.chunks_exact(SLOT_BYTES)) {
            let float = |at: usize| {
                f64::from(f32::from_le_bytes([
                    raw[at],
                    raw[at + 1],
                    raw[at + 2],
                    raw[at + 3],
                ]))
            };
            *slot = Slot {
                count: u32::from(u16::from_le_bytes([raw[0], raw[1]])),
                min: float(2),
                max: float(6),
                mean: float(10),
                last: float(14),
            };
        }
        chunk
    }

    /// The plain bytes: slots up to the last one holding a point.
    fn plain(&self) -> Vec<u8> {
        let used = self
            .slots
            .iter()
            .rposition(|slot| !slot.is_empty())
            .map_or(0, |last| last + 1);
        let mut bytes = Vec::with_capacity(used * SLOT_BYTES);
        for slot in &self.slots[..used] {
            let count = u16::try_from(slot.count).unwrap_or(u16::MAX);
            bytes.extend_from_slice(&count.to_le_bytes());
            for value in [slot.min, slot.max, slot.mean, slot.last] {
                bytes.extend_from_slice(&(value as f32).to_le_bytes());
            }
        }
        bytes
    }

    /// The stored bytes, [`Packing::Deflated`].
    pub fn encode(&self) -> Vec<u8> {
        deflate(&shuffle(&self.plain()))
    }
}

/// Where each field starts within a plain slot and how wide it is: the count, then the floats.
const FIELDS: [(usize, usize); 5] = [(0, 2), (2, 4), (6, 4), (10, 4), (14, 4)];

/// Plain slots to byte planes: for each field and each of its bytes, that byte of every slot's
/// value XORed with the slot before's.
fn shuffle(plain: &[u8]) -> Vec<u8> {
    let slots: Vec<&[u8]> = plain.chunks_exact(SLOT_BYTES).collect();
    let mut planes = Vec::with_capacity(plain.len());
    for (offset, width) in FIELDS {
        for byte in offset..offset + width {
            let mut before = 0u8;
            for slot in &slots {
                planes.push(slot[byte] ^ before);
                before = slot[byte];
            }
        }
    }
    planes
}

/// The inverse of [`shuffle`]; trailing bytes that make no whole slot are dropped.
fn unshuffle(planes: &[u8]) -> Vec<u8> {
    let count = planes.len() / SLOT_BYTES;
    let mut plain = vec![0u8; count * SLOT_BYTES];
    let mut at = 0;
    for (offset, width) in FIELDS {
        for byte in offset..offset + width {
            let mut before = 0u8;
            for slot in 0..count {
                before ^= planes[at];
                plain[slot * SLOT_BYTES + byte] = before;
                at += 1;
            }
        }
    }
    plain
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .unwrap_or_default()
}

/// At most `limit` inflated bytes: a chunk never holds more, whatever the stored bytes say.
fn inflate(bytes: &[u8], limit: usize) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::with_capacity(limit);
    let decoder = flate2::read::DeflateDecoder::new(bytes);
    match decoder
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut plain)
    {
        Ok(_) => plain,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(values: &[f64]) -> Slot {
        let mut gathered = Gathered::new(values[0]);
        values[1..].iter().for_each(|value| gathered.add(*value));
        Slot::default().merged(&gathered)
    }

    #[test]
    fn a_minute_weighs_its_samples_and_keeps_the_last() {
        let slot = minute(&[1.0, 5.0, 3.0]);
        assert_eq!(slot.count, 3);
        assert_eq!(
            (slot.min, slot.max, slot.mean, slot.last),
            (1.0, 5.0, 3.0, 3.0)
        );
        let later = slot.merged(&Gathered::new(7.0));
        assert_eq!(
            (later.count, later.mean, later.last, later.max),
            (4, 4.0, 7.0, 7.0)
        );
    }

    #[test]
    fn coarser_points_weigh_minutes_alike() {
        let quarter = derive(
            Resolution::Minute,
            &[
                minute(&[0.0, 0.0, 0.0, 0.0]),
                Slot::default(),
                minute(&[10.0]),
            ],
        );
        assert_eq!(quarter.count, 2);
        assert_eq!(
            (quarter.min, quarter.max, quarter.mean, quarter.last),
            (0.0, 10.0, 5.0, 10.0)
        );
        let other = derive(Resolution::Minute, &[minute(&[2.0])]);
        let day = derive(Resolution::QuarterHour, &[quarter, other]);
        assert_eq!(day.count, 3);
        assert!((day.mean - 4.0).abs() < 1e-12);
        assert_eq!(day.last, 2.0);
        assert!(derive(Resolution::QuarterHour, &[Slot::default()]).is_empty());
    }

    #[test]
    fn a_plain_chunk_holds_its_used_slots_only() {
        let mut chunk = Chunk::empty(Resolution::Minute);
        assert!(chunk.plain().is_empty());
        chunk.slots[2] = minute(&[1.5, 2.5]);
        let bytes = chunk.plain();
        assert_eq!(bytes.len(), 3 * SLOT_BYTES);
        assert_eq!(
            Chunk::decode(Resolution::Minute, Packing::Plain, &bytes),
            chunk
        );
        assert_eq!(
            Chunk::decode(Resolution::Minute, Packing::Plain, &bytes[..20]).slots[1],
            Slot::default()
        );
    }

    #[test]
    fn a_deflated_chunk_reads_back_the_same_and_takes_about_half() {
        let mut chunk = Chunk::empty(Resolution::QuarterHour);
        let mut state = 1u64;
        for (index, slot) in chunk.slots.iter_mut().enumerate().skip(3) {
            // A daily wave with a few percent of noise in every field, like a real gauge.
            let mut noisy = |base: f64| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                base * (1.0 + (state >> 40) as f64 / (1u64 << 24) as f64 * 0.05)
            };
            let base = 1000.0 + 200.0 * (index as f64 / 15.0).sin();
            *slot = Slot {
                count: 15,
                min: f64::from(noisy(base * 0.9) as f32),
                max: f64::from(noisy(base * 1.1) as f32),
                mean: f64::from(noisy(base) as f32),
                last: f64::from(noisy(base) as f32),
            };
        }
        let packed = chunk.encode();
        assert_eq!(
            Chunk::decode(Resolution::QuarterHour, Packing::Deflated, &packed),
            chunk
        );
        let plain = chunk.plain().len();
        assert!(packed.len() * 10 < plain * 7, "{} of {plain}", packed.len());
        assert_eq!(
            Chunk::decode(Resolution::QuarterHour, Packing::Deflated, &packed[..10]).slots[3],
            Slot::default(),
            "a cut stream reads as no points"
        );
        assert!(Chunk::empty(Resolution::Day).encode().len() < 4);
    }
}
