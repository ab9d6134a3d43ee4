// Starts the OpenTelemetry SDK for the process when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go
// to that OTLP endpoint (the SDK reads the endpoint and the other OTEL_* variables itself).
// Nothing else is instrumented automatically: spans are the ones the code makes (src/observability/tracing.ts)
// plus @fastify/otel's request spans, so a trace shows our steps rather than every socket write.

import { NodeSDK } from "@opentelemetry/sdk-node";

export interface Tracing {
  shutdown(): Promise<void>;
}

export function startTracing(serviceName = "commerce"): Tracing {
  // Traces only: metrics are served to Prometheus at /metrics, logs go through pino.
  const sdk = new NodeSDK({ serviceName, instrumentations: [], metricReaders: [], logRecordProcessors: [] });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
