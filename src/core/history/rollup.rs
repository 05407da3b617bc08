//! The arithmetic of the history, free of the store: a minute's samples gathered ([`Gathered`]),
//! one point of a tier ([`Slot`]), a chunk of a tier's points and its stored bytes ([`Chunk`]),
//! and a coarser point derived from the finer points it covers ([`derive`]).
//!
//! Values are kept as 32-bit floats (seven significant digits): a point costs 18 bytes, which
//! is what keeps 200 metrics over a year under 50 MiB. Means of coarser points weigh each minute
//! alike (a burst of refreshes does not tilt a quarter hour); a minute's own mean weighs its
//! samples.

use super::Resolution;

/// Bytes one slot takes in a stored chunk: count (u16) then min, max, mean, last (f32).
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

impl Chunk {
    pub fn empty(resolution: Resolution) -> Chunk {
        Chunk {
            slots: vec![Slot::default(); resolution.slots_per_chunk()],
        }
    }

    /// Reads stored bytes; bytes past the tier's slots or a cut slot are ignored.
    pub fn decode(resolution: Resolution, bytes: &[u8]) -> Chunk {
        let mut chunk = Chunk::empty(resolution);
        for (slot, raw) in chunk.slots.iter_mut().zip(bytes.chunks_exact(SLOT_BYTES)) {
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

    /// The stored bytes: slots up to the last one holding a point.
    pub fn encode(&self) -> Vec<u8> {
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
    fn a_chunk_stores_its_used_slots_only_and_reads_them_back() {
        let mut chunk = Chunk::empty(Resolution::Minute);
        assert!(chunk.encode().is_empty());
        chunk.slots[2] = minute(&[1.5, 2.5]);
        let bytes = chunk.encode();
        assert_eq!(bytes.len(), 3 * SLOT_BYTES);
        assert_eq!(Chunk::decode(Resolution::Minute, &bytes), chunk);
        assert_eq!(
            Chunk::decode(Resolution::Minute, &bytes[..20]).slots[1],
            Slot::default()
        );
    }
}
