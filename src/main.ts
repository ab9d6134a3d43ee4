// npm start: the API, projections, scheduler, saga and simulated gateway in one process.
// Data stays under DATA_DIR (or in DATABASE_URL) across restarts. SIGTERM/SIGINT: drain the
// requests in flight, stop every processor at a checkpoint, close the stores.

import { buildApp } from "./app.js";
import { signToken } from "./api/auth.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { startTracing } from "./observability/sdk.js";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`configuration error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  // Before the app is built, so every span it makes goes to the exporter.
  const tracing = config.otlpEndpoint ? startTracing() : undefined;
  const built = await buildApp(config, { logger: { level: process.env.LOG_LEVEL ?? "info" } });
  const address = await built.app.listen({ port: config.port, host: config.host });
  if (config.port === 0) built.setPublicBaseUrl(address);
  const lines = [`listening on ${address}  (docs: ${address}/docs)`];
  lines.push(`storage: ${config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PGlite under ${config.dataDir}`}`);
  lines.push(
    `instance ${config.instanceId}, roles ${config.roles.join(",")}: runs ${built.ownership.owned().length} unit(s) of work now (GET /api/ops/instances)`,
  );
  // Configured secrets are never printed; dev secrets (generated, kept under DATA_DIR) are, with a token for trying things out.
  if (built.secrets.dev.jwt) {
    lines.push(
      `AUTH_JWT_SECRET not set: ${built.secrets.generated.jwt ? "generated a dev secret" : "using the dev secret"} stored under ${config.dataDir} (npm run token mints more). Dev admin token (12 h):`,
    );
    const devToken = await signToken(built.secrets.jwtSecret, { sub: "admin", roles: ["admin"] });
    lines.push(`  ${devToken}`);
    // The token rides in the fragment, which browsers never send to a server; the page drops it from the address bar.
    lines.push(`back office, signed in with that token: ${address}/admin#token=${devToken}`);
  } else lines.push(`back office: ${address}/admin`);
  if (built.secrets.dev.webhook)
    lines.push(
      `PAYMENT_WEBHOOK_SECRET not set: ${built.secrets.generated.webhook ? "generated" : "using the stored dev secret"} ${built.secrets.webhookSecret}`,
    );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(
      `${signal}: draining requests and stopping processors at a checkpoint (handing over ${built.ownership.owned().length} unit(s) of work)`,
    );
    const force = setTimeout(() => {
      console.error("shutdown took more than 20 s; exiting");
      process.exit(1);
    }, 20_000);
    force.unref();
    const startedAt = performance.now();
    try {
      await built.close();
      await tracing?.shutdown();
      console.log(`${signal}: stopped in ${Math.round(performance.now() - startedAt)} ms`);
      process.exit(0);
    } catch (error) {
      console.error(`shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  };
  // Listening before the start-up lines are printed: whoever reads them may signal at once.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  console.log(lines.join("\n"));
}

main().catch((error: unknown) => {
  console.error(`start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
