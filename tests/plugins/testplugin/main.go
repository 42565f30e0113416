// Command testplugin is the project's own secrets-provider plugin for the plugin
// host's tests. It speaks the plugin side of Docker's protocol with
// hashicorp/yamux and net/http, the Connect unary framing written by hand
// (application/proto), so the engine is tested against the yamux implementation
// Docker's SDK uses.
//
// Launched: it reads DOCKER_SECRETS_ENGINE_PLUGIN_LAUNCH_CFG and uses the fd it
// names. External: it dials the engine socket and sends GET /hijack.
//
// Its behaviour comes from a JSON file: $TESTPLUGIN_CONFIG, else argv[0] + ".json".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
	"google.golang.org/protobuf/encoding/protowire"
)

type config struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Pattern     string            `json:"pattern"`
	Secrets     map[string]string `json:"secrets"`
	Mode        string            `json:"mode"` // serve, crash-once, crash, hang, noregister, acm
	Deny        string            `json:"deny"` // acm: deny patterns starting with this
	Marker      string            `json:"marker"`
	Asked       string            `json:"asked"` // each GetSecrets pattern received, one a line
	Pids        string            `json:"pids"`
	Pings       string            `json:"pings"`
	KeepaliveMs int               `json:"keepalive_ms"`
	Socket      string            `json:"socket"`
	Child       bool              `json:"child"`
}

type launchCfg struct {
	Name    string `json:"name"`
	Timeout int64  `json:"timeout"`
	Fd      int    `json:"fd"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testplugin: "+format+"\n", args...)
	os.Exit(2)
}

func appendLine(path, line string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func main() {
	path := os.Getenv("TESTPLUGIN_CONFIG")
	if path == "" {
		path = os.Args[0] + ".json"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		fail("reading config: %v", err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fail("config: %v", err)
	}
	if cfg.Version == "" {
		cfg.Version = "v0.0.1"
	}
	appendLine(cfg.Pids, fmt.Sprint(os.Getpid()))
	if cfg.Child {
		// A process of its own in the plugin's group: the engine must stop it too.
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			fail("child: %v", err)
		}
		appendLine(cfg.Pids, fmt.Sprint(child.Process.Pid))
	}

	var conn net.Conn
	regTimeout := 5 * time.Second
	if v := os.Getenv("DOCKER_SECRETS_ENGINE_PLUGIN_LAUNCH_CFG"); v != "" {
		var lc launchCfg
		if err := json.Unmarshal([]byte(v), &lc); err != nil {
			fail("launch config: %v", err)
		}
		if lc.Name == "" || lc.Timeout <= 0 || lc.Fd <= 2 {
			fail("bad launch config %s", v)
		}
		cfg.Name = lc.Name
		regTimeout = time.Duration(lc.Timeout)
		conn, err = net.FileConn(os.NewFile(uintptr(lc.Fd), "engine"))
		if err != nil {
			fail("fd %d: %v", lc.Fd, err)
		}
	} else {
		conn = hijack(cfg.Socket)
	}

	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = os.Stderr
	if cfg.KeepaliveMs > 0 {
		ycfg.KeepAliveInterval = time.Duration(cfg.KeepaliveMs) * time.Millisecond
	}
	// The plugin is the yamux client, as with Docker's SDK.
	session, err := yamux.Client(conn, ycfg)
	if err != nil {
		fail("yamux: %v", err)
	}

	registered := make(chan struct{})
	shutdown := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/plugins.v1.PluginService/Shutdown", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/proto")
		w.WriteHeader(200)
		once.Do(func() { close(shutdown) })
	})
	mux.HandleFunc("/resolver.v1.ResolverService/GetSecrets", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-registered:
		case <-time.After(regTimeout):
			connectError(w, 500, "internal", "not registered")
			return
		}
		body, _ := io.ReadAll(r.Body)
		pattern := decodeString(body, 1)
		if cfg.Asked != "" {
			appendLine(cfg.Asked, pattern)
		}
		switch cfg.Mode {
		case "crash":
			os.Exit(3)
		case "crash-once":
			if _, err := os.Stat(cfg.Marker); errors.Is(err, os.ErrNotExist) {
				os.WriteFile(cfg.Marker, nil, 0o600)
				os.Exit(3)
			}
		case "hang":
			appendLine(cfg.Marker, "hanging")
			select {}
		}
		var out []byte
		n := 0
		for id, value := range cfg.Secrets {
			if !match(pattern, id) {
				continue
			}
			n++
			var env []byte
			env = protowire.AppendTag(env, 1, protowire.BytesType)
			env = protowire.AppendString(env, id)
			env = protowire.AppendTag(env, 2, protowire.BytesType)
			env = protowire.AppendBytes(env, []byte(value))
			env = protowire.AppendTag(env, 3, protowire.BytesType)
			env = protowire.AppendString(env, cfg.Name)
			out = protowire.AppendTag(out, 1, protowire.BytesType)
			out = protowire.AppendBytes(out, env)
		}
		if n == 0 {
			connectError(w, 404, "not_found", "secret not found")
			return
		}
		w.Header().Set("Content-Type", "application/proto")
		w.WriteHeader(200)
		w.Write(out)
	})
	// An access-control module: records who asked for what, denies by prefix.
	mux.HandleFunc("/accesscontrol.v1.AccessControlService/CheckAccess", func(w http.ResponseWriter, r *http.Request) {
		<-registered
		body, _ := io.ReadAll(r.Body)
		pattern := decodeString(body, 1)
		req := []byte(decodeString(body, 2))
		pid, _ := decodeVarint(req, 1)
		appendLine(cfg.Marker, fmt.Sprintf("%d %s %s", pid, decodeString(req, 2), pattern))
		var out []byte
		if cfg.Deny == "" || !strings.HasPrefix(pattern, cfg.Deny) {
			out = protowire.AppendTag(out, 1, protowire.VarintType)
			out = protowire.AppendVarint(out, 1)
		}
		w.Header().Set("Content-Type", "application/proto")
		w.WriteHeader(200)
		w.Write(out)
	})
	server := &http.Server{Handler: mux}
	go server.Serve(session)

	if cfg.Mode != "noregister" {
		client := &http.Client{
			Timeout: regTimeout,
			Transport: &http.Transport{
				DisableKeepAlives: true,
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return session.Open()
				},
			},
		}
		var req []byte
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendString(req, cfg.Name)
		req = protowire.AppendTag(req, 2, protowire.BytesType)
		req = protowire.AppendString(req, cfg.Version)
		if cfg.Mode == "acm" {
			req = protowire.AppendTag(req, 4, protowire.BytesType)
			req = protowire.AppendBytes(req, nil)
		} else {
			var sp []byte
			sp = protowire.AppendTag(sp, 1, protowire.BytesType)
			sp = protowire.AppendString(sp, cfg.Pattern)
			req = protowire.AppendTag(req, 3, protowire.BytesType)
			req = protowire.AppendBytes(req, sp)
		}
		hreq, _ := http.NewRequest("POST", "http://unix/plugins.v1.RegisterService/RegisterPlugin", bytes.NewReader(req))
		hreq.Header.Set("Content-Type", "application/proto")
		hreq.Header.Set("Connect-Protocol-Version", "1")
		hreq.Header.Set("Connect-Timeout-Ms", fmt.Sprint(regTimeout.Milliseconds()))
		resp, err := client.Do(hreq)
		if err != nil {
			fail("register: %v", err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			fail("register: %d %s", resp.StatusCode, rb)
		}
		fmt.Fprintf(os.Stderr, "testplugin %s: registered with %s %s (request_timeout %s)\n",
			cfg.Name, decodeString(rb, 1), decodeString(rb, 2), decodeDuration(rb, 3))
		close(registered)
	}
	if cfg.Pings != "" {
		go func() {
			for {
				rtt, err := session.Ping()
				if err != nil {
					appendLine(cfg.Pings, "error "+err.Error())
					return
				}
				appendLine(cfg.Pings, "ok "+rtt.String())
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-shutdown:
	case <-session.CloseChan():
	case <-sigs:
	}
	session.Close()
	os.Exit(0)
}

// hijack dials the engine socket and takes the connection over, as Docker's SDK does.
func hijack(socket string) net.Conn {
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		fail("dial %s: %v", socket, err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprint(c, "GET /hijack HTTP/1.1\r\nHost: secrets-engine.localhost\r\nConnection: upgrade\r\nUpgrade: tcp\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fail("hijack: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		fail("hijack: status %d", resp.StatusCode)
	}
	c.SetDeadline(time.Time{})
	return &bufferedConn{Conn: c, r: br}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func connectError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

func decodeString(b []byte, field protowire.Number) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			if num == field {
				return string(v)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

func decodeVarint(b []byte, field protowire.Number) (uint64, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if typ == protowire.VarintType && num == field {
			v, m := protowire.ConsumeVarint(b)
			return v, m >= 0
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, false
		}
		b = b[m:]
	}
	return 0, false
}

func decodeDuration(b []byte, field protowire.Number) time.Duration {
	d := []byte(decodeString(b, field))
	var secs, nanos uint64
	for len(d) > 0 {
		num, _, n := protowire.ConsumeTag(d)
		if n < 0 {
			break
		}
		d = d[n:]
		v, m := protowire.ConsumeVarint(d)
		if m < 0 {
			break
		}
		d = d[m:]
		if num == 1 {
			secs = v
		} else if num == 2 {
			nanos = v
		}
	}
	return time.Duration(secs)*time.Second + time.Duration(nanos)
}

// match reports whether id is in the pattern's language (* one component, ** any).
func match(pattern, id string) bool {
	return matchParts(strings.Split(pattern, "/"), strings.Split(id, "/"))
}

func matchParts(p, id []string) bool {
	if len(p) == 0 {
		return len(id) == 0
	}
	if p[0] == "**" {
		for i := 0; i <= len(id); i++ {
			if matchParts(p[1:], id[i:]) {
				return true
			}
		}
		return false
	}
	if len(id) == 0 || (p[0] != "*" && p[0] != id[0]) {
		return false
	}
	return matchParts(p[1:], id[1:])
}
