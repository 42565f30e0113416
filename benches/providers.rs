//! Resolve latency of the credential-helper provider (docker-credential-secretservice
//! on a private gnome-keyring) and, with `--features aws`, of aws-secrets-manager
//! (warm client) against moto. Vault has its own bench (benches/vault.rs).
//!
//! `cargo bench --bench providers [--features aws]`

use std::io::Write;
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::providers::credential_helper::CredentialHelper;
use secrets_engine::{Pattern, Resolver};

use secrets_engine_test_support::services;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("provider_resolve");
    g.sample_size(20);

    let kr = tempfile::tempdir().unwrap();
    let bus = services::start_keyring(kr.path());
    let mut store = Command::new("docker-credential-secretservice")
        .arg("store")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    store
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"ServerURL":"https://registry.bench.example/","Username":"u","Secret":"s"}"#,
        )
        .unwrap();
    assert!(store.wait().unwrap().success());
    let helper = CredentialHelper::new("secretservice").with_env("DBUS_SESSION_BUS_ADDRESS", &bus);
    let id = Pattern::parse("docker/auth/registry.bench.example").unwrap();
    g.bench_function("credential_helper_secretservice", |b| {
        b.to_async(&rt)
            .iter(|| async { assert_eq!(helper.get_secrets(&id).await.unwrap().len(), 1) })
    });

    #[cfg(feature = "aws")]
    {
        use secrets_engine::SecretValue;
        use secrets_engine::providers::aws::{AwsOptions, AwsSecretsManager};
        let moto = tempfile::tempdir().unwrap();
        let endpoint = services::start("moto", moto.path(), &[])
            .remove("AWS_ENDPOINT_URL")
            .unwrap();
        let options = AwsOptions {
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.clone()),
            static_credentials: Some(("test".into(), SecretValue::from("test"))),
            ..AwsOptions::default()
        };
        let sm = rt.block_on(AwsSecretsManager::new(options));
        let status = Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "-X", "POST", "-H", "X-Amz-Target: secretsmanager.CreateSecret"])
            .args(["-H", "Content-Type: application/x-amz-json-1.1", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=x"])
            .args(["-d", r#"{"Name":"bench/secret","SecretString":"v"}"#, &endpoint])
            .status()
            .unwrap();
        assert!(status.success());
        let id = Pattern::parse("bench/secret").unwrap();
        g.bench_function("aws_secrets_manager_moto", |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(sm.get_secrets(&id).await.unwrap().len(), 1) })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
