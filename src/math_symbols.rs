//! The three C math functions the binary calls, defined here from the `libm` crate (a Rust
//! port of musl's) so the system's libm is never loaded.
//!
//! Only `log`, `log10` and `pow` are called: SQLite's full-text ranking, tokio's scheduler
//! statistics, the text area's line-number width and the log latency histogram. Loading
//! glibc's libm for them costs a third of a megabyte resident in every console (its ifunc
//! resolvers and tables run at load, and the kernel maps 64 KiB around each page they touch):
//! with these definitions in the binary the linker finds nothing left to take from libm, and
//! `--as-needed` drops it.
#![allow(unsafe_code)] // `no_mangle` is an unsafe attribute: the names must not clash, and these are the C ones.

/// The natural logarithm, as C's `log`.
#[unsafe(no_mangle)]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

/// The base-10 logarithm, as C's `log10`.
#[unsafe(no_mangle)]
pub extern "C" fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// `x` to the power `y`, as C's `pow`.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    /// Known values: calls through `f64::ln` and friends would land in these same functions.
    #[test]
    fn the_functions_give_the_known_values() {
        let close = |ours: f64, known: f64| (ours - known).abs() <= known.abs() * 4e-16;
        assert!(close(super::log(10.0), std::f64::consts::LN_10));
        assert!(close(super::log(std::f64::consts::E), 1.0));
        assert!(close(super::log10(2.0), std::f64::consts::LOG10_2));
        assert_eq!(super::log10(1000.0), 3.0);
        assert!(close(super::pow(2.0, 0.5), std::f64::consts::SQRT_2));
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert!(super::log(-1.0).is_nan());
        assert_eq!(super::log(0.0), f64::NEG_INFINITY);
    }
}
