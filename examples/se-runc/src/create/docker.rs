//! What dockerd knows about a container: the environment its image declares.
//!
//! se-runc runs inside dockerd's `start`, which holds the container's lock until
//! the runtime returns, so `GET /containers/{id}/json` (which takes that lock) would
//! wait for se-runc forever. The container list reads a lock-free snapshot and gives
//! the image id; the image's own config gives its `ENV`.
//!
//! One request per connection, HTTP/1.0, so dockerd closes the connection after the
//! body and no chunked encoding or keep-alive is involved. Every connection has a
//! deadline.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::image_cache::ImageCache;

/// How long one API call may take, connect to last byte.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// A larger answer is not one of the two se-runc asks for.
const MAX_RESPONSE: usize = 8 << 20;

/// A failed call to dockerd's API.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The socket could not be used.
    #[error("cannot reach dockerd at {}: {source}", socket.display())]
    Io {
        /// The socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No whole answer within [`DEADLINE`].
    #[error("dockerd at {} did not answer within {DEADLINE:?}", socket.display())]
    Timeout {
        /// The socket.
        socket: PathBuf,
    },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from dockerd to GET {path}: {why}")]
    Protocol {
        /// The request path.
        path: String,
        /// What was wrong.
        why: String,
    },
}

/// What dockerd says (or said before) an image's `ENV` is.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageEnv {
    /// The image's `ENV` entries, as `NAME=value`.
    pub env: Vec<String>,
    /// Found in the image cache: dockerd was asked only for the image id.
    pub kept: bool,
    /// Why dockerd's answer could not be kept, when writing it failed.
    pub unkept: Option<String>,
}

/// A client of one dockerd.
#[derive(Debug, Clone)]
pub struct Docker {
    socket: PathBuf,
}

impl Docker {
    /// dockerd at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Docker {
        Docker {
            socket: socket.into(),
        }
    }

    /// The `ENV` of the image container `id` was created from; `None` when dockerd
    /// has no such container (the caller is another client of the same containerd).
    /// With a `cache`, an image's `ENV` is asked for once and kept by image id.
    pub fn image_env(
        &self,
        id: &str,
        cache: Option<&ImageCache>,
    ) -> Result<Option<ImageEnv>, DockerError> {
        let filters = format!(r#"{{"id":["{}"]}}"#, encode(id));
        let list = self.get(&format!(
            "/containers/json?all=1&filters={}",
            encode(&filters)
        ))?;
        let bad = |path: &str, why: &str| DockerError::Protocol {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        let list = list
            .as_array()
            .ok_or_else(|| bad("/containers/json", "not a list"))?;
        // The filter matches id prefixes: only the exact id is this container.
        let Some(container) = list.iter().find(|c| c["Id"] == id) else {
            return Ok(None);
        };
        let image = container["ImageID"]
            .as_str()
            .ok_or_else(|| bad("/containers/json", "no ImageID"))?;
        if let Some(env) = cache.and_then(|c| c.get(image)) {
            return Ok(Some(ImageEnv {
                env,
                kept: true,
                unkept: None,
            }));
        }
        let path = format!("/images/{}/json", encode(image));
        let config = self.get(&path)?;
        // containerd's image store describes the image it answered for; with no
        // `Config` it has no content to say what the image sets.
        let containerd_store = !config["Descriptor"].is_null();
        if containerd_store && !config["Config"].is_object() {
            return Err(bad(
                &path,
                "no Config: dockerd cannot say what the image sets",
            ));
        }
        let env = match &config["Config"]["Env"] {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(&path, "Config.Env holds a non-string"))?,
            _ => return Err(bad(&path, "Config.Env is not a list")),
        };
        let unkept = cache
            .filter(|_| names_one_config(&config, image))
            .and_then(|cache| cache.put(image, &env).err())
            .map(|e| format!("the image cache could not keep {image}'s ENV: {e}"));
        Ok(Some(ImageEnv {
            env,
            kept: false,
            unkept,
        }))
    }

    /// `GET path`, its JSON body when the status is 200.
    fn get(&self, path: &str) -> Result<serde_json::Value, DockerError> {
        let raw = self.exchange(path)?;
        let protocol = |why: String| DockerError::Protocol {
            path: path.to_owned(),
            why,
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Response::new(&mut headers);
        let body_at = match head.parse(&raw) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err(protocol("a truncated head".into())),
            Err(e) => return Err(protocol(e.to_string())),
        };
        let mut body = &raw[body_at..];
        if let Some(h) = head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        {
            let n: usize = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| protocol("a bad Content-Length".into()))?;
            body = body
                .get(..n)
                .ok_or_else(|| protocol("a truncated body".into()))?;
        }
        let status = head.code.unwrap_or(0);
        if status != 200 {
            // dockerd's errors are {"message": "..."}; they name ids, never values.
            let message = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(protocol(format!("status {status} {message}")));
        }
        serde_json::from_slice(body).map_err(|e| protocol(e.to_string()))
    }

    /// Sends one request and reads until dockerd closes the connection.
    fn exchange(&self, path: &str) -> Result<Vec<u8>, DockerError> {
        let until = Instant::now() + DEADLINE;
        let io = |source| DockerError::Io {
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(io)?;
        stream.set_write_timeout(Some(DEADLINE)).map_err(io)?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|e| self.timeout_or(e))?;
        let mut raw = Vec::with_capacity(8192);
        let mut chunk = [0u8; 8192];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DockerError::Timeout {
                    socket: self.socket.clone(),
                });
            }
            stream.set_read_timeout(Some(left)).map_err(io)?;
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(raw),
                Ok(n) if raw.len() + n > MAX_RESPONSE => {
                    return Err(DockerError::Protocol {
                        path: path.to_owned(),
                        why: format!("an answer over {MAX_RESPONSE} bytes"),
                    });
                }
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.timeout_or(e)),
            }
        }
    }

    fn timeout_or(&self, e: std::io::Error) -> DockerError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => DockerError::Timeout {
                socket: self.socket.clone(),
            },
            _ => DockerError::Io {
                socket: self.socket.clone(),
                source: e,
            },
        }
    }
}

/// Whether image `id`'s answer `config` is the only one dockerd can ever give for
/// that id, so that it may be kept. In the classic store an image id is the digest of
/// the image's config (and the answer has no `Descriptor`). containerd's image store
/// names an image by its target: a single-platform manifest names one config, but an
/// index (a multi-platform image) is answered with whichever of its platforms is
/// present and preferred at the time, which can change as platforms are pulled.
fn names_one_config(config: &serde_json::Value, id: &str) -> bool {
    const MANIFESTS: [&str; 2] = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ];
    let single = match &config["Descriptor"] {
        serde_json::Value::Null => config["Config"].is_object(),
        d => d["mediaType"]
            .as_str()
            .is_some_and(|t| MANIFESTS.contains(&t)),
    };
    config["Id"] == id && single
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::Path;

    /// A one-shot server answering `answer` to whatever it is asked; returns what
    /// it was asked.
    fn serve(dir: &Path, answers: Vec<&'static str>) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(dir.join("d.sock")).unwrap();
        std::thread::spawn(move || {
            let mut asked = Vec::new();
            for answer in answers {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap();
                asked.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(answer.as_bytes()).unwrap();
            }
            asked
        })
    }

    /// An HTTP/1.0 200 answer with `body`, as `serve` takes it.
    fn ok(body: &str) -> &'static str {
        Box::leak(format!("HTTP/1.0 200 OK\r\n\r\n{body}").into_boxed_str())
    }

    /// The container list's answer: container `abc`, made from `image`.
    fn listed(image: &str) -> &'static str {
        ok(&format!(r#"[{{"Id":"abc","ImageID":"{image}"}}]"#))
    }

    #[test]
    fn image_env_of_a_container() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(
            dir.path(),
            vec![
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[{\"Id\":\"abc1\",\"ImageID\":\"x\"},{\"Id\":\"abc\",\"ImageID\":\"sha256:f0\"}]",
                "HTTP/1.0 200 OK\r\nContent-Length: 31\r\n\r\n{\"Config\":{\"Env\":[\"A=se://a\"]}}\ntrailing",
            ],
        );
        let env = Docker::new(dir.path().join("d.sock"))
            .image_env("abc", None)
            .unwrap();
        assert_eq!(
            env,
            Some(ImageEnv {
                env: vec!["A=se://a".to_owned()],
                kept: false,
                unkept: None
            })
        );
        let asked = server.join().unwrap();
        assert!(
            asked[0].starts_with(
                "GET /containers/json?all=1&filters=%7B%22id%22%3A%5B%22abc%22%5D%7D HTTP/1.0\r\n"
            ),
            "{}",
            asked[0]
        );
        assert!(asked[1].starts_with("GET /images/sha256%3Af0/json HTTP/1.0\r\n"));
    }

    #[test]
    fn a_kept_image_env_spares_the_second_request() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(&dir.path().join("cache")).unwrap();
        let image = format!("sha256:{}", "0f".repeat(32));
        let list = listed(&image);
        let config = ok(&format!(
            r#"{{"Id":"{image}","Config":{{"Env":["A=se://a"]}}}}"#
        ));
        // First create: both requests, and the answer is kept.
        let server = serve(dir.path(), vec![list, config, list]);
        let d = Docker::new(dir.path().join("d.sock"));
        let first = d.image_env("abc", Some(&cache)).unwrap().unwrap();
        assert_eq!(
            (first.env.as_slice(), first.kept),
            (&["A=se://a".to_owned()][..], false)
        );
        // Second create of the same image: the container list only.
        let second = d.image_env("abc", Some(&cache)).unwrap().unwrap();
        assert_eq!((second.env, second.kept), (first.env, true));
        let asked = server.join().unwrap();
        assert_eq!(asked.len(), 3);
        assert!(asked[1].starts_with("GET /images/"), "{}", asked[1]);
        assert!(asked[2].starts_with("GET /containers/json"), "{}", asked[2]);
    }

    #[test]
    fn an_answer_that_cannot_be_kept_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(&dir.path().join("cache")).unwrap();
        // The directory is gone from under the open cache: nothing can be created in it.
        std::fs::remove_dir(dir.path().join("cache")).unwrap();
        let image = format!("sha256:{}", "2d".repeat(32));
        let list = listed(&image);
        let config = ok(&format!(r#"{{"Id":"{image}","Config":{{"Env":[]}}}}"#));
        let server = serve(dir.path(), vec![list, config]);
        let got = Docker::new(dir.path().join("d.sock"))
            .image_env("abc", Some(&cache))
            .unwrap()
            .unwrap();
        server.join().unwrap();
        assert_eq!((got.env, got.kept), (Vec::new(), false));
        let why = got.unkept.unwrap();
        assert!(
            why.starts_with(&format!("the image cache could not keep {image}'s ENV: ")),
            "{why}"
        );
    }

    #[test]
    fn only_an_answer_that_names_one_config_is_kept() {
        let image = format!("sha256:{}", "0f".repeat(32));
        let answer = |extra: &str| -> serde_json::Value {
            serde_json::from_str(&format!(
                r#"{{"Id":"{image}","Config":{{"Env":["A=1"]}}{extra}}}"#
            ))
            .unwrap()
        };
        let manifest =
            r#","Descriptor":{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
        let index = r#","Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
        let list = r#","Descriptor":{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}"#;
        // The classic store (no Descriptor), and a single-platform manifest.
        assert!(names_one_config(&answer(""), &image));
        assert!(names_one_config(&answer(manifest), &image));
        // A multi-platform image: the answer depends on which platform is present.
        assert!(!names_one_config(&answer(index), &image));
        assert!(!names_one_config(&answer(list), &image));
        // An answer about another id, or with no config.
        assert!(!names_one_config(&answer(""), "sha256:00"));
        let bare: serde_json::Value =
            serde_json::from_str(&format!(r#"{{"Id":"{image}"}}"#)).unwrap();
        assert!(!names_one_config(&bare, &image));
    }

    #[test]
    fn a_multi_platform_image_is_asked_about_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(&dir.path().join("cache")).unwrap();
        let image = format!("sha256:{}", "1e".repeat(32));
        let list = listed(&image);
        let index = ok(&format!(
            r#"{{"Id":"{image}","Descriptor":{{"mediaType":"application/vnd.oci.image.index.v1+json"}},"Config":{{"Env":[]}}}}"#
        ));
        let server = serve(dir.path(), vec![list, index, list, index]);
        let d = Docker::new(dir.path().join("d.sock"));
        for _ in 0..2 {
            let got = d.image_env("abc", Some(&cache)).unwrap().unwrap();
            assert!(!got.kept);
        }
        assert_eq!(server.join().unwrap().len(), 4);
        assert_eq!(cache.get(&image), None);
        // containerd's store with no config content for the image: no answer at all.
        std::fs::remove_file(dir.path().join("d.sock")).unwrap();
        let server = serve(
            dir.path(),
            vec![
                list,
                ok(r#"{"Descriptor":{"mediaType":"x"},"Config":null}"#),
            ],
        );
        let e = d.image_env("abc", Some(&cache)).unwrap_err().to_string();
        assert!(
            e.contains("no Config: dockerd cannot say what the image sets"),
            "{e}"
        );
        server.join().unwrap();
    }

    #[test]
    fn unknown_container_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(
            dir.path(),
            vec![
                "HTTP/1.0 200 OK\r\n\r\n[]",
                "HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"boom\"}",
            ],
        );
        let d = Docker::new(dir.path().join("d.sock"));
        assert_eq!(d.image_env("abc", None).unwrap(), None);
        let e = d.image_env("abc", None).unwrap_err().to_string();
        assert!(e.contains("status 500 boom"), "{e}");
        server.join().unwrap();
        let e = Docker::new(dir.path().join("absent.sock"))
            .image_env("abc", None)
            .unwrap_err();
        assert!(matches!(e, DockerError::Io { .. }), "{e}");
    }

    #[test]
    fn a_silent_dockerd_is_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("d.sock")).unwrap();
        // Accepts (the backlog does) and never answers.
        let t = Instant::now();
        let e = Docker::new(dir.path().join("d.sock"))
            .image_env("abc", None)
            .unwrap_err();
        assert!(matches!(e, DockerError::Timeout { .. }), "{e}");
        assert!(t.elapsed() >= DEADLINE && t.elapsed() < DEADLINE * 2);
        drop(listener);
    }
}
