//! Per-call cost of one in-memory lookup from Rust (the blocking API the bindings
//! use) and through the C ABI (the exported function, called in-process). The C and
//! Go harnesses of scripts/bench-bindings run the same lookup from their languages.
//!
//! `cargo bench --bench bindings`

use std::ffi::CString;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::ffi::{
    SE_STORE_MEMORY, se_engine_get_secrets, se_engine_new, se_engine_options,
    se_envelope_list_free, se_envelope_list_len,
};
use secrets_engine::{ConfigLocation, Engine, Id, MemoryStore, Pattern, Registration};

fn bench(c: &mut Criterion) {
    let store: MemoryStore = [(Id::parse("bench/secret").unwrap(), b"value".to_vec())]
        .into_iter()
        .collect();
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .register(
            Registration::store("memory", Pattern::parse("**").unwrap(), Arc::new(store))
                .configurable(false),
        )
        .build()
        .unwrap();
    let pattern = Pattern::parse("bench/secret").unwrap();
    // A group, so criterion keeps the estimates under target/criterion/get_secrets/*
    // where benches/rows/40-bindings reads them.
    let mut g = c.benchmark_group("get_secrets");
    g.bench_function("rust_blocking", |b| {
        b.iter(|| black_box(engine.blocking().get_secrets(black_box(&pattern)).unwrap()))
    });

    let opts = se_engine_options {
        store: SE_STORE_MEMORY,
        config_path: std::ptr::null(),
        no_config: true,
        deadline_ms: 0,
    };
    let mut ffi_engine = std::ptr::null_mut();
    unsafe {
        assert_eq!(se_engine_new(&opts, &mut ffi_engine) as u32, 0);
        let id = CString::new("bench/secret").unwrap();
        let value = b"value";
        secrets_engine::ffi::se_engine_set_secret(
            ffi_engine,
            id.as_ptr(),
            value.as_ptr(),
            value.len(),
        );
    }
    let cpattern = CString::new("bench/secret").unwrap();
    g.bench_function("c_abi", |b| {
        b.iter(|| unsafe {
            let mut list = std::ptr::null_mut();
            se_engine_get_secrets(ffi_engine, black_box(cpattern.as_ptr()), &mut list);
            assert_eq!(se_envelope_list_len(list), 1);
            se_envelope_list_free(list);
        })
    });
    g.finish();
    unsafe { secrets_engine::ffi::se_engine_free(ffi_engine) };
}

criterion_group!(benches, bench);
criterion_main!(benches);
