import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration files create their own database, so files may run in parallel;
    // the machine has 2 cores, so keep the pool small.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    // In CI a failed test runs again, at most twice: a few multi-process and saga timing tests have
    // failed once in a full run on two cores and passed alone. A real failure fails three times.
    retry: process.env.CI ? 2 : 0,
    hookTimeout: 120_000,
    // CI also writes a JSON report so .ci/check-skipped.mjs can fail the run on a skipped suite.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: process.env.CI ? { json: ".ci-results.json" } : undefined,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary", "text"],
    },
  },
});
