//! opsdeck: a terminal console for on-call engineers.
//!
//! Module map:
//! - [`core`]: collectors, rules and alerts, the runner and the state store. It never imports
//!   ratatui or crossterm, so the same code serves the TUI and the headless CLI.
//! - [`config`]: the TOML configuration (schema, defaults, validation with file:line:col),
//!   key bindings, themes and XDG paths.
//! - [`headless`]: `opsdeck check` and other commands that fold runner output into text or JSON.
//! - [`tui`]: the full-screen console on ratatui/crossterm.
//! - [`cli`]: the command-line surface shared by the binary and its tests.
//! - [`fault_around`]: the kernel's fault-around switched off in the read-only mappings, so only
//!   the pages read stay resident.
//! - [`loader_tables`]: the binary's applied relocation tables, given back to the kernel at start.
//! - [`math_symbols`]: `log`, `log10` and `pow` from the `libm` crate, so glibc's libm is not loaded.

pub mod cli;
pub mod config;
pub mod core;
pub mod fault_around;
pub mod headless;
pub mod loader_tables;
pub mod math_symbols;
pub mod tui;
