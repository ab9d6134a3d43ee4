// Servers a fault test may stop and start without touching the shared ones: a Kafka broker of its
// own (own ports, own log dir) and a Kafka Connect worker of its own (own REST port, group and
// internal topics, on the shared broker), both from the jars infra/local/up.sh fetched.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const LOCAL = fileURLToPath(new URL("../../infra/local/", import.meta.url));
const WORK = join(LOCAL, ".work");
const LIB = join(WORK, "kafka", "lib");
const PLUGINS = join(WORK, "connect-plugins");
const LOG4J = join(LOCAL, "config", "log4j2.properties");

export const ownServersAvailable = (): boolean => existsSync(LIB) && existsSync(PLUGINS);

function java(): string {
  for (const d of ["/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/openjdk-17"])
    if (existsSync(join(d, "bin", "java"))) return join(d, "bin", "java");
  return "java";
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (child && child.exitCode !== null) throw new Error(`${what}: process exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms`);
    await sleep(250);
  }
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(true));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
  });

export interface OwnProcess {
  readonly address: string;
  start(): Promise<void>;
  /** SIGKILL: no clean shutdown (a crash). */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

function jvm(args: string[], logFile: string): ChildProcess {
  const out = openSync(logFile, "a");
  return spawn(
    java(),
    [
      "-Xms128m",
      "-Xmx384m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${LOG4J}`,
      ...args,
    ],
    { stdio: ["ignore", out, out] },
  );
}

async function ended(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  await done;
}

/** A single-node KRaft broker on free ports with its data in a temp dir. */
export async function ownKafkaBroker(): Promise<OwnProcess> {
  const dir = mkdtempSync(join(tmpdir(), "own-kafka-"));
  const [port, controller] = [await freePort(), await freePort()];
  const props = join(dir, "server.properties");
  writeFileSync(
    props,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      `log.dirs=${join(dir, "data")}`,
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "default.replication.factor=1",
      "min.insync.replicas=1",
      "num.partitions=1",
      "auto.create.topics.enable=true",
      "group.initial.rebalance.delay.ms=0",
      "num.network.threads=1",
      "num.io.threads=2",
    ].join("\n"),
  );
  const format = spawnSync(
    java(),
    [
      "-cp",
      `${LIB}/*`,
      `-Dlog4j2.configurationFile=${LOG4J}`,
      "kafka.tools.StorageTool",
      "format",
      "-g",
      "-t",
      "c0ffeec0ffeec0ffeec0fw",
      "-c",
      props,
    ],
    { encoding: "utf8" },
  );
  if (format.status !== 0) throw new Error(`formatting the own broker failed: ${format.stderr || format.stdout}`);
  let child: ChildProcess | undefined;
  const log = join(dir, "kafka.log");
  return {
    address: `127.0.0.1:${port}`,
    async start() {
      child = jvm(["-cp", `${LIB}/*`, "kafka.Kafka", props], log);
      await waitFor("own Kafka broker", () => portOpen(port), 90_000, child);
    },
    kill: () => ended(child, "SIGKILL"),
    stop: () => ended(child, "SIGTERM"),
    async dispose() {
      await ended(child, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A distributed-mode Connect worker of its own on the given brokers. */
export async function ownConnectWorker(brokers: string, id: string): Promise<OwnProcess> {
  const dir = mkdtempSync(join(tmpdir(), "own-connect-"));
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const props = join(dir, "worker.properties");
  writeFileSync(
    props,
    [
      `bootstrap.servers=${brokers}`,
      `group.id=own-connect-${id}`,
      `listeners=http://127.0.0.1:${port}`,
      "rest.advertised.host.name=127.0.0.1",
      `rest.advertised.port=${port}`,
      `config.storage.topic=_own-connect-${id}-configs`,
      `offset.storage.topic=_own-connect-${id}-offsets`,
      `status.storage.topic=_own-connect-${id}-status`,
      "config.storage.replication.factor=1",
      "offset.storage.replication.factor=1",
      "status.storage.replication.factor=1",
      "offset.storage.partitions=1",
      "status.storage.partitions=1",
      "key.converter=org.apache.kafka.connect.json.JsonConverter",
      "value.converter=org.apache.kafka.connect.json.JsonConverter",
      "key.converter.schemas.enable=false",
      "value.converter.schemas.enable=false",
      // Offsets are flushed rarely, so a crash re-sends what was published since the last flush.
      "offset.flush.interval.ms=5000",
      "connector.client.config.override.policy=All",
      `plugin.path=${PLUGINS}`,
      "plugin.discovery=service_load",
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${port}`;
  return {
    address: url,
    async start() {
      child = jvm(["-cp", `${LIB}/*`, "org.apache.kafka.connect.cli.ConnectDistributed", props], join(dir, "connect.log"));
      await waitFor("own Connect worker", async () => (await fetch(`${url}/connectors`)).ok, 120_000, child);
    },
    kill: () => ended(child, "SIGKILL"),
    stop: () => ended(child, "SIGTERM"),
    async dispose() {
      await ended(child, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
