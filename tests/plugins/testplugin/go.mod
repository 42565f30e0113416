module secrets-engine.test/testplugin

go 1.23

require (
	github.com/hashicorp/yamux v0.1.2
	google.golang.org/protobuf v1.36.12
)
