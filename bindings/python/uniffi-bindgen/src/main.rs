//! uniffi's bindgen CLI, pinned to the uniffi version of the bindings.
fn main() {
    uniffi::uniffi_bindgen_main()
}
