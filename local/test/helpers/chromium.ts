// Debian's headless Chromium through playwright-core, for the browser tests:
// a fresh profile, nothing that phones home, and every problem the page
// reports (errors, console errors, requests off the board) collected.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** The machine's network is closed: no QUIC, no component updates, no sync, nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BoardBrowser {
  page: Page;
  /** Page errors, console errors and requests to anywhere but the board. */
  problems: string[];
  close(): Promise<void>;
}

export async function openBoard(boardUrl: string, waitMs: number): Promise<BoardBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: run \`apt-get install -y chromium\` (CI installs it) to run the browser test`,
    );
  }
  const profile = await mkdtemp(path.join(os.tmpdir(), 'board-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
      timeout: 30_000,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(waitMs);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on(
    'console',
    (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`),
  );
  page.on(
    'request',
    (req) =>
      !req.url().startsWith(boardUrl) && problems.push(`request off the board: ${req.url()}`),
  );
  await page.goto(boardUrl, { waitUntil: 'load' });
  const opened = context;
  return {
    page,
    problems,
    async close() {
      await opened.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
