//! `SE_RUNC_NO_PIE=1` at build time links se-runc as a non-PIE executable on Linux.
//!
//! The AWS SDK (feature `aws`) triples the relative relocations of a
//! position-independent se-runc (9.5k without it, 31k with it), and the loader
//! applies them on every runtime call, writing to (and so copying) the pages they
//! point into: about 0.6 ms of a call's 2.8 ms. A non-PIE executable has them resolved
//! at link time (about 200 left, none relative), which brings a call with the SDK back
//! to the cost of one without it. Packing them as DT_RELR (`-z pack-relative-relocs`)
//! does not help: the table shrinks, the page writes stay. The price is ASLR for
//! se-runc's own image (its libraries, stack and heap stay randomized), for a binary
//! that runs as root: so PIE stays the default, and this is the administrator's call.
fn main() {
    println!("cargo:rerun-if-env-changed=SE_RUNC_NO_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var("SE_RUNC_NO_PIE").as_deref() == Ok("1") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
