// scripts/replay.ts: audit, rebuilds and reconciliation from the event log, for auditors,
// analysts, finance and operators (docs/CONTRACT.md "Command line"). This file only parses the
// command line and dispatches to src/cli/, one file per command.
//
//   npm run replay -- <command> [options]      (npm run replay -- --help)

import { existsSync, readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import type { EventView } from "../src/cli/events.js";
import type { ReportFormat } from "../src/cli/reconcile.js";
import { fail, runCommand } from "../src/cli/run.js";
import { reportPeriod } from "../src/cli/settlement-period.js";
import { parseSettlement } from "../src/cli/settlement-csv.js";
import {
  ExitCode,
  parseAsOf,
  parseChoice,
  parseCount,
  parseInstant,
  parsePosition,
  UsageError,
  type ExitCodeValue,
} from "../src/cli/usage.js";

// Each command's module (and the store adapters behind it) loads only when that command runs,
// so --help and bad usage answer at once.
const command = {
  events: async () => (await import("../src/cli/events.js")).eventsCommand,
  order: async () => (await import("../src/cli/order.js")).orderCommand,
  rebuild: async () => (await import("../src/cli/rebuild.js")).rebuildCommand,
  rebuildSearch: async () => (await import("../src/cli/rebuild-search.js")).rebuildSearchCommand,
  verify: async () => (await import("../src/cli/verify.js")).verifyCommand,
  reconcile: async () => (await import("../src/cli/reconcile.js")).reconcileCommand,
  settlement: async () => (await import("../src/cli/settlement.js")).settlementCommand,
  invariants: async () => (await import("../src/cli/invariants.js")).invariantsCommand,
};

let exitCode: ExitCodeValue = ExitCode.ok;
const done = (code: ExitCodeValue) => {
  exitCode = code;
};

const program = new Command("replay")
  .description("Audit, rebuilds and reconciliation from the event log. Exit codes: 0 fine, 1 a finding, 2 bad usage, 3 a fault.")
  .showHelpAfterError("(replay --help lists the commands)")
  .exitOverride()
  .configureOutput({
    writeErr: (text) => process.stderr.write(text.startsWith("error:") ? `replay: ${text.slice("error: ".length)}` : text),
  });

const view = () =>
  new Option("--view <view>", "events as the application reads them (upcast), as stored, or both")
    .choices(["upcast", "stored", "both"])
    .default("upcast");
const json = () => new Option("--json", "one JSON document (events: one JSON object per line) for machines");

program
  .command("events")
  .description("print events from the log")
  .option("--stream <streamId>", "only this stream")
  .option("--type <type...>", "only these event types")
  .option("--from-position <position>", "only events after this position")
  .option("--limit <n>", "at most this many events")
  .addOption(view())
  .addOption(json())
  .action(async (o: { stream?: string; type?: string[]; fromPosition?: string; limit?: string; view: EventView; json?: boolean }) =>
    done(
      await runCommand(
        Boolean(o.json),
        () => ({
          view: o.view,
          ...(o.stream !== undefined ? { stream: o.stream } : {}),
          ...(o.type ? { types: o.type } : {}),
          ...(o.fromPosition !== undefined ? { fromPosition: parsePosition("--from-position", o.fromPosition) } : {}),
          ...(o.limit !== undefined ? { limit: parseCount("--limit", o.limit) } : {}),
        }),
        async (ctx, options) => (await command.events())(ctx, options),
      ),
    ),
  );

program
  .command("order")
  .description("an order's full history as a timeline (its order, payment, reservation and saga streams), and its state")
  .argument("<orderId>")
  .option("--as-of <time|position>", "the state as it stood at this ISO time or log position")
  .addOption(view())
  .addOption(json())
  .action(async (orderId: string, o: { asOf?: string; view: EventView; json?: boolean }) =>
    done(
      await runCommand(
        Boolean(o.json),
        () => ({ view: o.view, ...(o.asOf !== undefined ? { asOf: parseAsOf(o.asOf) } : {}) }),
        async (ctx, options) => (await command.order())(ctx, orderId, options),
      ),
    ),
  );

program
  .command("rebuild")
  .description(
    "rebuild read models from the log: in place (refused while the projector runs elsewhere, unless --force) or --shadow (beside the live tables, swapped in when caught up)",
  )
  .argument("[projection]", "e.g. orders, payments, inventory, products, carts, order-history, refunds, search (--shadow only)")
  .option("--all", "every read model")
  .option("--shadow", "build beside the live tables and swap them in: safe while the server runs")
  .option("--force", "rebuild in place even if the projector seems to run elsewhere")
  .option("--alias <name>", "search only: the Elasticsearch read alias to rebuild behind (default products)")
  .addOption(json())
  .action(async (name: string | undefined, o: { all?: boolean; shadow?: boolean; force?: boolean; alias?: string; json?: boolean }) =>
    done(
      await runCommand(
        Boolean(o.json),
        () => {
          if (!o.all && name === undefined) throw new UsageError("rebuild: name a projection or give --all");
          if (o.shadow && o.force) throw new UsageError("rebuild: --force is for in-place rebuilds; a --shadow rebuild needs none");
          const search = name === "search" || name === "projections/search";
          if (search && !o.shadow)
            throw new UsageError("rebuild: search is rebuilt beside the live model and swapped in (no in-place rebuild): give --shadow");
          if (o.alias !== undefined && !search) throw new UsageError("rebuild: --alias is for rebuild search");
          return { all: Boolean(o.all), shadow: Boolean(o.shadow), force: Boolean(o.force), search, alias: o.alias };
        },
        async (ctx, { search, alias, ...options }) =>
          search
            ? (await command.rebuildSearch())(ctx, { shadow: options.shadow, ...(alias === undefined ? {} : { alias }) })
            : (await command.rebuild())(ctx, name, options),
      ),
    ),
  );

program
  .command("verify")
  .description("rebuild into scratch tables and diff against the live read model; exit 1 on a difference")
  .argument("[projection]")
  .addOption(json())
  .action(async (name: string | undefined, o: { json?: boolean }) =>
    done(
      await runCommand(
        Boolean(o.json),
        () => undefined,
        async (ctx) => (await command.verify())(ctx, name),
      ),
    ),
  );

program
  .command("reconcile")
  .description(
    "refund reconciliation for a date range (--from/--to), or the log against a gateway settlement report (--settlement); exit 1 on mismatches",
  )
  .option("--from <date>", "start (inclusive): 2026-03-01 or an ISO time")
  .option("--to <date>", "end (exclusive)")
  .option("--settlement <file.csv>", "a gateway settlement report (docs/settlement-csv.md)")
  .option("--format <format>", "table | csv | json (default: a table on a terminal, plain lines in a pipe)")
  .addOption(json())
  .action(async (o: { from?: string; to?: string; settlement?: string; format?: string; json?: boolean }) => {
    const formatOf = (): ReportFormat => {
      if (o.json && o.format !== undefined && o.format !== "json") throw new UsageError(`--json and --format ${o.format} disagree`);
      if (o.json) return "json";
      if (o.format === undefined) return process.stdout.isTTY ? "table" : "plain";
      return parseChoice("--format", o.format, ["table", "csv", "json"] as const);
    };
    const range = () => {
      if (o.from === undefined || o.to === undefined) return null;
      const from = parseInstant("--from", o.from);
      const to = parseInstant("--to", o.to);
      if (to <= from) throw new UsageError(`--to (${o.to}) must be after --from (${o.from})`);
      return { from, to };
    };
    if (o.settlement !== undefined) {
      const file = o.settlement;
      done(
        await runCommand(
          formatOf() === "json",
          () => {
            const format = formatOf();
            if ((o.from === undefined) !== (o.to === undefined))
              throw new UsageError("give both --from and --to, or neither (the report's own days)");
            const given = range();
            if (!existsSync(file)) throw new UsageError(`--settlement: no such file "${file}"`);
            const lines = parseSettlement(readFileSync(file, "utf8"), file);
            return { lines, period: given ?? reportPeriod(lines), format };
          },
          async (ctx, p) => (await command.settlement())(ctx, p.lines, p.period, p.format),
        ),
      );
      return;
    }
    done(
      await runCommand(
        formatOf() === "json",
        () => {
          const format = formatOf();
          if (o.from === undefined || o.to === undefined)
            throw new UsageError("reconcile needs --from and --to (or --settlement <file.csv>)");
          const r = range()!;
          return { range: { from: r.from.toISOString(), to: r.to.toISOString() }, format };
        },
        async (ctx, p) => (await command.reconcile())(ctx, p.range, p.format),
      ),
    );
  });

program
  .command("invariants")
  .description(
    "check stock conservation, refunds <= capture, one capture per payment, cancelled orders' reservations released and terminal orders' sagas finished, over the whole log; exit 1 naming streams and positions",
  )
  .addOption(json())
  .action(async (o: { json?: boolean }) =>
    done(
      await runCommand(
        Boolean(o.json),
        () => undefined,
        async (ctx) => (await command.invariants())(ctx),
      ),
    ),
  );

try {
  if (process.argv.length <= 2) throw new UsageError(`name a command: ${program.commands.map((c) => c.name()).join(", ")} (replay --help)`);
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end "successfully"; anything else commander refuses is bad usage.
    exitCode =
      error.code === "commander.helpDisplayed" || error.code === "commander.help" || error.code === "commander.version"
        ? ExitCode.ok
        : ExitCode.usage;
  } else {
    exitCode = fail(error);
  }
}
process.exit(exitCode);
