module github.com/secrets-engine/secrets-engine/bindings/go

go 1.22
