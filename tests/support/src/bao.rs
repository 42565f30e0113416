//! A real OpenBao dev server, started through `scripts/services/bao` (shared per
//! test binary, or private for tests that seal or stop it).
#![allow(dead_code)]

use std::sync::OnceLock;

pub struct Bao {
    pub address: String,
    pub token: String,
    dir: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Bao {
    pub fn start() -> Bao {
        let dir = tempfile::Builder::new()
            .prefix("se-bao-")
            .tempdir()
            .unwrap();
        let mut vars = super::services::start("bao", dir.path(), &[]);
        let mut get = |k: &str| vars.remove(k).expect("the script prints it");
        Bao {
            address: get("VAULT_ADDR"),
            token: get("VAULT_TOKEN"),
            dir,
        }
    }

    pub fn stop(&self) {
        super::services::stop("bao", self.dir.path());
    }

    /// A raw API call with the root token (or `token`), optionally in a namespace.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        namespace: Option<&str>,
    ) -> serde_json::Value {
        let client = reqwest::Client::new();
        let mut r = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/v1/{path}", self.address),
            )
            .header("X-Vault-Token", &self.token);
        if let Some(ns) = namespace {
            r = r.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn put_secret(&self, path: &str, data: serde_json::Value) {
        self.api(
            "POST",
            &format!("secret/data/{path}"),
            Some(serde_json::json!({ "data": data })),
            None,
        )
        .await;
    }

    /// [`put_secret`](Bao::put_secret) for tests without a runtime of their own (the
    /// CLI suites).
    pub fn put_secret_blocking(&self, path: &str, data: serde_json::Value) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self.put_secret(path, data));
    }
}

/// The server shared by the tests of this binary.
pub fn shared() -> &'static Bao {
    static S: OnceLock<Bao> = OnceLock::new();
    S.get_or_init(Bao::start)
}

impl Bao {
    /// The dev server's unseal key, from its log (for tests that seal it).
    pub fn unseal_key(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("bao.log")).unwrap();
        log.lines()
            .find_map(|l| l.trim().strip_prefix("Unseal Key: "))
            .expect("the dev server logs its unseal key")
            .trim()
            .to_owned()
    }
}
