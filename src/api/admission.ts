// Admission control for new orders: when the order pipeline (saga and read models) is further
// behind the log than the configured bound, in events or in seconds, placing an order or checking
// a cart out answers 503 problem+json with Retry-After before anything is written, so a sale
// cannot build a backlog that outlives the reservations and payment timeouts it creates. Reads,
// the payment webhook and ops routes never ask the gate: they are what drains the backlog.
//
// The lag is measured in the background (every `pollMs`), so the gate itself costs a request
// nothing; a measurement that fails (database down) leaves the gate as it was.

import { ProblemError } from "./problem.js";

export interface Lag {
  events: number;
  seconds: number;
}

export interface AdmissionLimits {
  /** ADMISSION_MAX_LAG_EVENTS; 0 = no bound in events. */
  maxLagEvents: number;
  /** ADMISSION_MAX_LAG_SECONDS; 0 = no bound in seconds. */
  maxLagSeconds: number;
}

export interface AdmissionState extends Lag, AdmissionLimits {
  open: boolean;
  /** When the lag was last measured (ISO), null before the first measurement. */
  measuredAt: string | null;
  /** Requests refused since start. */
  refused: number;
}

export interface AdmissionGate {
  /** Throws a 503 ProblemError (with Retry-After) while the pipeline is over its bound. */
  admit(): void;
  state(): AdmissionState;
}

export interface LagAdmissionOptions extends AdmissionLimits {
  measure(): Promise<Lag>;
  pollMs?: number;
  onError?(error: unknown): void;
}

export interface RunningAdmission extends AdmissionGate {
  /** Measures now (tests; the loop does it every pollMs). */
  refresh(): Promise<AdmissionState>;
  stop(): void;
}

export function startLagAdmission(options: LagAdmissionOptions): RunningAdmission {
  const pollMs = options.pollMs ?? 250;
  let lag: Lag = { events: 0, seconds: 0 };
  let measuredAt: string | null = null;
  let refused = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const over = (l: Lag) =>
    (options.maxLagEvents > 0 && l.events > options.maxLagEvents) || (options.maxLagSeconds > 0 && l.seconds > options.maxLagSeconds);
  const state = (): AdmissionState => ({
    open: !over(lag),
    ...lag,
    maxLagEvents: options.maxLagEvents,
    maxLagSeconds: options.maxLagSeconds,
    measuredAt,
    refused,
  });

  const measure = () =>
    (inFlight ??= options
      .measure()
      .then((l) => {
        lag = l;
        measuredAt = new Date().toISOString();
      })
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => (inFlight = undefined)));

  const loop = () => {
    if (stopped) return;
    void measure().finally(() => {
      if (!stopped) timer = setTimeout(loop, pollMs).unref();
    });
  };
  if (options.maxLagEvents > 0 || options.maxLagSeconds > 0) loop();

  return {
    admit() {
      if (!over(lag)) return;
      refused++;
      // Come back in about the time the pipeline needs to work the lag off (1-30 s).
      const retryAfter = Math.min(30, Math.max(1, Math.ceil(lag.seconds)));
      throw new ProblemError(
        503,
        "Service Unavailable",
        `the order pipeline is behind (${lag.events} events, ${lag.seconds.toFixed(1)} s); new orders are refused until it catches up`,
        { lagEvents: lag.events, lagSeconds: Math.round(lag.seconds * 10) / 10 },
        { "Retry-After": String(retryAfter) },
      );
    },
    state,
    async refresh() {
      await measure();
      return state();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
