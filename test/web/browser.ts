// A real headless Chromium for the page tests: Debian's chromium package (no browser can be
// downloaded here), driven by playwright-core, in a fresh profile that is removed afterwards.
// CHROMIUM_PATH overrides where it is; .ci/run installs it when it is missing.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { RequiredServer } from "../support/env.js";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** The browser as a required "server" (test/support/env.ts): without one the suite is skipped and says how to get it; CI has it, and fails on a skip. */
export const chromiumBrowser = (): RequiredServer => ({
  variable: "CHROMIUM_PATH (or Debian's chromium package at /usr/bin/chromium)",
  value: existsSync(CHROMIUM) ? CHROMIUM : undefined,
});

/** Where the page tests leave their screenshots (git-ignored). */
export const SCREENSHOTS = join(process.cwd(), ".screenshots", "backoffice");

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`);
  const profile = mkdtempSync(join(tmpdir(), "backoffice-chromium-"));
  // launchPersistentContext passes --user-data-dir=<profile> (a fresh one) and --headless itself.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
