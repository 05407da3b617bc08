//! Log findings: what log lines say about the host, reduced to signatures, counts and recipes.

pub mod recipes;
pub mod signatures;
