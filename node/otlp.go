package node

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporters are the exporters to an OpenTelemetry collector that
// Config.OTLPEndpoint asks for: OTLP over gRPC, plaintext for an
// http:// URL, TLS for https:// or a bare host:port. The exporter
// connects lazily, so a collector that is down costs dropped batches, not
// a failed start.
func otlpExporters(cfg Config) ([]sdktrace.SpanExporter, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	opt := otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint)
	if strings.Contains(cfg.OTLPEndpoint, "://") {
		opt = otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint)
	}
	exp, err := otlptracegrpc.New(context.Background(), opt)
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint %q: %w", cfg.OTLPEndpoint, err)
	}
	return []sdktrace.SpanExporter{exp}, nil
}
