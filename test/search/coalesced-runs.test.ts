// Reads that wait for search (waitFor) each ask the shipper for a pass and Elasticsearch for a
// refresh; CoalescedRuns makes everyone who asks while a run waits to start share that run, and
// never lets a run start before an earlier one ended.

import { describe, expect, it } from "vitest";
import { CoalescedRuns } from "../../src/projections/search/shipper.js";

describe("CoalescedRuns", () => {
  it("runs one at a time; requests made while one runs share the single next run, which starts after it", async () => {
    const log: string[] = [];
    const gates: (() => void)[] = [];
    let n = 0;
    const runs = new CoalescedRuns(async () => {
      const id = ++n;
      log.push(`start ${id}`);
      await new Promise<void>((resolve) => gates.push(resolve));
      log.push(`end ${id}`);
    });
    const first = runs.request();
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start 1"]);
    const waiting = [runs.request(), runs.request(), runs.request()];
    expect(waiting[1]).toBe(waiting[0]);
    expect(waiting[2]).toBe(waiting[0]);
    gates.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start 1", "end 1", "start 2"]);
    // Asked after run 2 started: a run of its own, after run 2.
    const later = runs.request();
    expect(later).not.toBe(waiting[0]);
    gates.shift()!();
    await Promise.all(waiting);
    await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
    await later;
    expect(log).toEqual(["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  it("a failed run fails the requests that shared it, and the next request runs again", async () => {
    let calls = 0;
    const runs = new CoalescedRuns(async () => {
      calls++;
      if (calls === 1) throw new Error("Elasticsearch unreachable");
    });
    await expect(runs.request()).rejects.toThrow("unreachable");
    await expect(runs.request()).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});
