//! Rebuild when a migration changes: they are embedded with include_str!. Release links lay out
//! the functions the console runs first (assets/opsdeck.order, see benches/link_order.sh), so the
//! code it keeps resident is a few contiguous megabytes instead of pages all over the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=assets/opsdeck.order");
    // lld (Rust's default linker on x86_64 Linux; other targets link with the system's ld,
    // which has no such option) reads the list; names it does not find (a stale list) are
    // skipped without a warning.
    let x86_64_linux = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if x86_64_linux && std::env::var("PROFILE").as_deref() == Ok("release") {
        let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/opsdeck.order");
        if order.exists() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
}
