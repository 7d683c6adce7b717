package node

import (
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporters are the exporters to an OpenTelemetry collector that
// Config.OTLPEndpoint asks for.
func otlpExporters(cfg Config) ([]sdktrace.SpanExporter, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	return nil, fmt.Errorf("--otlp-endpoint: exporting to a collector is not built in yet")
}
