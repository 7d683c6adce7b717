package testkit

import (
	"testing"
)

// CPUPerOp measures the CPU time (user and system, every thread of the
// test process: callers and servers alike) a benchmark spends per
// operation, and reports it as "cpu-ns/op" when the returned func is called
// at the benchmark's end. On a machine other work is loading, wall-clock
// ns/op swings with the load while CPU time per operation barely moves, so
// it is the figure to compare there.
func CPUPerOp(b *testing.B) (report func()) {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
