// npm run consumer -- notifications|analytics     run one integration-event consumer alone (on KAFKA_NAMESPACE's topics)
// npm run consumer -- replay-dlq <topic>.dlq       send a dead-letter topic's letters back to their topic
//
// Same environment as the server (KAFKA_BROKERS is required; DATABASE_URL, or the embedded
// database under DATA_DIR when the server is not running, since PGlite serves one process).
// Run a consumer alone with KAFKA_CONSUMERS=none on the server, or both share the consumer group
// (Kafka splits the partitions between them). Exit codes: 0 done/stopped, 1 failure, 2 bad usage.

import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { Kafka, logLevel } from "kafkajs";
import { pino } from "pino";
import { ConfigError, loadConfig } from "../src/config.js";
import { consumerDefinition, CONSUMER_NAMES, startConsumer, type ConsumerName } from "../src/consumers/index.js";
import { replayDeadLetters } from "../src/consumers/dead-letters.js";
import { openSqlClient } from "../src/eventstore/index.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info", name: "consumer" });

function config() {
  try {
    const c = loadConfig();
    if (!c.kafkaBrokers?.length) throw new ConfigError("KAFKA_BROKERS", "is required to consume integration events");
    return c;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
}

const program = new Command().name("consumer").description("Integration-event consumers and their dead letters").exitOverride();

program
  .argument("<name>", `${CONSUMER_NAMES.join(" | ")} | replay-dlq`, (v) => {
    if (v !== "replay-dlq" && !CONSUMER_NAMES.includes(v as ConsumerName))
      throw new InvalidArgumentError(`expected ${CONSUMER_NAMES.join(", ")} or replay-dlq`);
    return v;
  })
  .argument("[topic]", "for replay-dlq: the dead-letter topic, e.g. commerce.order.events.dlq")
  .option("--group <id>", "consumer group id (default commerce-<name>, or dlq-replay.<topic>)")
  .action(async (name: string, topic: string | undefined, opts: { group?: string }) => {
    const c = config();
    if (name === "replay-dlq") {
      if (!topic) {
        console.error("replay-dlq needs the dead-letter topic, e.g. commerce.order.events.dlq");
        process.exit(2);
      }
      const kafka = new Kafka({ clientId: "commerce-dlq-replay", brokers: c.kafkaBrokers!, logLevel: logLevel.WARN });
      const result = await replayDeadLetters(kafka, topic, opts.group ? { groupId: opts.group } : {});
      console.log(JSON.stringify(result));
      return;
    }
    // Listen for the stop signals before anything announces that we run: whoever reads "consuming"
    // may signal at once, and a signal with no listener yet would kill the process unstopped.
    const stopRequested = new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    const sql = await openSqlClient(c.databaseUrl ? { databaseUrl: c.databaseUrl } : { dataDir: join(c.dataDir, "pglite") });
    const running = await startConsumer(consumerDefinition(name as ConsumerName), {
      sql,
      brokers: c.kafkaBrokers!,
      logger,
      // The server's topics and groups: <KAFKA_NAMESPACE>.<aggregate>.events, <KAFKA_NAMESPACE>-<name>.
      ...(c.kafkaNamespace ? { namespace: c.kafkaNamespace } : {}),
      ...(opts.group ? { groupId: opts.group } : {}),
    });
    logger.info({ consumer: name, group: running.groupId }, "consuming; SIGINT or SIGTERM stops");
    await stopRequested;
    await running.stop();
    await sql.close();
    logger.info({ consumer: name, ...running.stats() }, "stopped");
  });

try {
  await program.parseAsync();
} catch (error) {
  // Kafka's and PostgreSQL's errors carry codes too (numbers, SQLSTATEs): only commander's are usage.
  const code = (error as { code?: unknown }).code;
  if (code === "commander.helpDisplayed" || code === "commander.version") process.exit(0);
  if (typeof code === "string" && code.startsWith("commander.")) process.exit(2);
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
