// A catch-up-then-live subscription built from repeated `readAll` pages: it reads until a page
// comes back empty, then sleeps until woken (an append in this process) or the poll interval
// passes (appends by other processes). Read failures (database down) are retried with
// backoff; a handler failure ends the subscription, since only the processor knows how to
// retry or park its own work.

import type { BatchHandler, Checkpoint, ReadAllResult, Subscription } from "./port.js";

export interface SubscriptionSource {
  read(from: Checkpoint): Promise<ReadAllResult>;
  from: Checkpoint;
  handler: BatchHandler;
  pollIntervalMs: number;
  /** Registers a wake-up callback; returns its removal. */
  onWake(wake: () => void): () => void;
  onReadError?(error: unknown, attempt: number): void;
}

const MAX_READ_BACKOFF_MS = 5_000;

export function runSubscription(source: SubscriptionSource): Subscription {
  let stopped = false;
  let checkpoint = source.from;
  let wakeSleeper: (() => void) | undefined;
  let woken = false;
  const caughtUpWaiters: { target: Checkpoint; resolve: () => void }[] = [];

  const wake = () => {
    woken = true;
    wakeSleeper?.();
  };
  const removeWake = source.onWake(wake);

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeSleeper = undefined;
        resolve();
      }
      wakeSleeper = done;
    });

  const settleWaiters = () => {
    for (let i = caughtUpWaiters.length - 1; i >= 0; i--) {
      const waiter = caughtUpWaiters[i]!;
      if (waiter.target <= checkpoint) {
        caughtUpWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };

  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      woken = false;
      let page: ReadAllResult;
      try {
        page = await source.read(checkpoint);
        failures = 0;
      } catch (error) {
        failures++;
        source.onReadError?.(error, failures);
        await sleep(Math.min(MAX_READ_BACKOFF_MS, 50 * 2 ** failures));
        continue;
      }
      if (page.events.length > 0) await source.handler(page.events, page.checkpoint);
      const advanced = page.checkpoint !== checkpoint;
      checkpoint = page.checkpoint;
      settleWaiters();
      if (!advanced || page.events.length === 0) await sleep(source.pollIntervalMs);
    }
  };

  const done = loop().finally(() => {
    removeWake();
  });
  done.catch(() => {});

  return {
    done,
    async stop() {
      stopped = true;
      wake();
      await done.catch(() => {});
    },
    caughtUpTo(target: Checkpoint) {
      if (target <= checkpoint) return Promise.resolve();
      return new Promise<void>((resolve) => {
        caughtUpWaiters.push({ target, resolve });
        wake();
      });
    },
  };
}
