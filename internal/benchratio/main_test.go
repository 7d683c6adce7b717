package main

import (
	"strings"
	"testing"
)

func TestReportRatios(t *testing.T) {
	var out strings.Builder
	report(&out, map[string]float64{
		"node Helloworld/direct":     50000,
		"node Helloworld/gateway":    200000,
		"blocks/store WriteViaProxy": 100, // no baseline in this run: left out
	})
	got := out.String()
	if !strings.Contains(got, "node Helloworld/gateway") || !strings.Contains(got, "4.00x") {
		t.Fatalf("report:\n%s", got)
	}
	if strings.Contains(got, "WriteViaProxy") {
		t.Fatalf("a pair without its baseline was reported:\n%s", got)
	}
}

func TestParseLine(t *testing.T) {
	m := line.FindStringSubmatch("BenchmarkHelloworld/direct-parallel-2  \t 5088\t 48320 ns/op\t 20695 req/s")
	if m == nil || m[1] != "Helloworld/direct-parallel" || m[3] != "48320" {
		t.Fatalf("parsed %q", m)
	}
}
