//! The CPU time a benchmark's process has used: on a machine other work shares, a steadier
//! figure than the wall clock.

use std::time::Duration;

/// CPU time this process has used (every thread: the runtime's and SQLite's).
pub fn cpu_time() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|error| error.to_string())?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err("cannot read utime and stime from /proc/self/stat".to_owned());
    };
    let hertz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(
        (user + system) as f64 / hertz as f64,
    ))
}
