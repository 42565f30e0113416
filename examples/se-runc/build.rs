//! With the `aws` feature on Linux, se-runc is linked as a non-PIE executable.
//!
//! The AWS SDK triples the relative relocations of a position-independent se-runc
//! (9.5k without it, 31k with it), and the loader applies them on every runtime call,
//! writing to (and so copying) the pages they point into: about 0.5 ms of a call's
//! 2.8 ms. A non-PIE executable has them resolved at link time (about 200 left, none
//! relative), which brings a call with the SDK back to the cost of one without it.
//! Packing them as DT_RELR (`-z pack-relative-relocs`) does not help: the table
//! shrinks, the page writes stay. The price is ASLR for se-runc's own image (its
//! libraries, stack and heap stay randomized); `SE_RUNC_PIE=1` at build time keeps
//! the PIE link, at that cost per call.
fn main() {
    println!("cargo:rerun-if-env-changed=SE_RUNC_PIE");
    let aws = std::env::var_os("CARGO_FEATURE_AWS").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let pie = std::env::var("SE_RUNC_PIE").as_deref() == Ok("1");
    if aws && linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
