// The import rules of README's "Where things live" table, checked by `npm run check:imports`
// (and in CI): layers point inward, adapters are chosen only where things are composed.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "A cycle makes two folders one idea: move what both need into the lower one.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "aggregates-are-pure",
      severity: "error",
      comment: "Deciders import nothing but each other: no I/O, no clock, no libraries but immutable's persistent collections (pure data).",
      from: { path: "^src/aggregates/" },
      to: { pathNot: "^(src/aggregates/|node_modules/immutable/)" },
    },
    {
      name: "only-main-composes",
      severity: "error",
      comment: "src/app.ts is the composition root; only the entry point starts it.",
      from: { path: "^src/", pathNot: "^src/main\\.ts$" },
      to: { path: "^src/app\\.ts$" },
    },
    {
      name: "http-is-the-outer-layer",
      severity: "error",
      comment: "Nothing inside imports the HTTP layer (or Fastify): it is one way in among several (CLI, consumers).",
      from: { path: "^src/", pathNot: "^src/(api/|web/|app\\.ts$|main\\.ts$|payments/simulated-gateway-routes\\.ts$)" },
      to: { path: "^src/api/|^node_modules/(fastify|@fastify)/" },
    },
    {
      name: "commands-depend-on-ports",
      severity: "error",
      comment: "Command handling sees aggregates and the event store port, never a read model, a saga or an adapter.",
      from: { path: "^src/commands/" },
      to: { path: "^src/(projections|queries|sagas|processing|payments|search|integration|consumers|flash-sales/(redis|postgres)|eventstore/(postgres|eventstoredb)|infrastructure)/" },
    },
    {
      name: "queries-depend-on-ports",
      severity: "error",
      comment: "Queries read read models through the SQL port (and the event store port); they issue no commands.",
      from: { path: "^src/queries/" },
      to: { path: "^src/(commands|sagas|eventstore/(postgres|eventstoredb)/)|^src/infrastructure/sql/(pg-client|pglite)" },
    },
    {
      name: "adapters-are-chosen-at-composition",
      severity: "error",
      comment: "Concrete event store and SQL adapters are opened by src/eventstore/index.ts and src/app.ts, not by the code that uses them.",
      from: { path: "^src/", pathNot: "^src/(app\\.ts$|eventstore/|infrastructure/|cli/)" },
      to: { path: "^src/eventstore/(postgres|eventstoredb)/|^src/infrastructure/sql/(pg-client|pglite)" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
