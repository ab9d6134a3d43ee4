// Which real servers the integration tests may use. A suite that needs one that is not
// configured is skipped, and says which variable would enable it.

export interface RequiredServer {
  variable: string;
  value: string | undefined;
}

export const server = (variable: string): RequiredServer => ({ variable, value: process.env[variable] || undefined });

/** Logs why a suite is skipped (vitest prints it) and returns true when it must be skipped. */
export function missing(...servers: RequiredServer[]): boolean {
  const absent = servers.filter((s) => !s.value).map((s) => s.variable);
  if (absent.length > 0) {
    console.warn(`[skipped] set ${absent.join(" and ")} to run this suite`);
    return true;
  }
  return false;
}
