module secrets-engine/benches/docker-match

go 1.25

require github.com/docker/secrets-engine/x v0.7.0-do.not.use
