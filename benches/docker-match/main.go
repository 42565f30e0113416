// Command docker-match times Docker's Go secrets `Pattern.Match` on the same vectors
// that benches/pattern.rs times for ours, so benches/rows/10-pattern can report both
// from one run.
//
//	docker-match typical <match.tsv>             mean ns per match over the whole set
//	docker-match worst <worst.tsv> <calls> <s>   lower median ns per call, at most <calls>
//	                                             calls, no new call once <s> seconds are spent
//
// Each mode first checks every vector's expected result, so a timing never hides a
// disagreement. Output is one line "<ns> <allocs per match>" on stdout.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/secrets-engine/x/secrets"
)

type vector struct {
	pattern secrets.Pattern
	id      secrets.ID
	want    bool
}

// load parses the shared TSV: pattern, id, expected (1/0); '#' lines are comments.
func load(path string) ([]vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		if len(cols) != 3 {
			return nil, fmt.Errorf("%s:%d: want 3 tab-separated columns", path, line)
		}
		p, err := secrets.ParsePattern(cols[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: pattern: %w", path, line, err)
		}
		id, err := secrets.ParseID(cols[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: id: %w", path, line, err)
		}
		out = append(out, vector{p, id, cols[2] == "1"})
	}
	return out, sc.Err()
}

var sink bool

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: docker-match typical <tsv> | worst <tsv> <calls> <seconds>")
		os.Exit(2)
	}
	vs, err := load(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "typical":
		for _, v := range vs {
			if got := v.pattern.Match(v.id); got != v.want {
				fmt.Fprintf(os.Stderr, "Docker Match(%s, %s) = %v, vectors say %v\n", v.pattern, v.id, got, v.want)
				os.Exit(1)
			}
		}
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for _, v := range vs {
					sink = v.pattern.Match(v.id)
				}
			}
		})
		n := float64(len(vs))
		fmt.Printf("%.3f %.2f\n", float64(r.NsPerOp())/n, float64(r.AllocsPerOp())/n)
	case "worst":
		if len(os.Args) != 5 || len(vs) != 1 {
			fmt.Fprintln(os.Stderr, "usage: docker-match worst <tsv with one vector> <calls> <seconds>")
			os.Exit(2)
		}
		calls, _ := strconv.Atoi(os.Args[3])
		budget, _ := strconv.ParseFloat(os.Args[4], 64)
		v := vs[0]
		var times []time.Duration
		start := time.Now()
		for len(times) < calls && (len(times) == 0 || time.Since(start).Seconds() < budget) {
			t0 := time.Now()
			got := v.pattern.Match(v.id)
			times = append(times, time.Since(t0))
			if got != v.want {
				fmt.Fprintf(os.Stderr, "Docker Match(%s, %s) = %v, vectors say %v\n", v.pattern, v.id, got, v.want)
				os.Exit(1)
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		fmt.Fprintf(os.Stderr, "docker-match worst: %d calls, min %v, max %v\n", len(times), times[0], times[len(times)-1])
		// Lower median: with the two calls a busy machine allows, the faster one is the
		// better estimate of the cost itself.
		fmt.Printf("%d -\n", times[(len(times)-1)/2].Nanoseconds())
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
