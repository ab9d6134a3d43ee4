// Table and column names are spliced into SQL text (they cannot be parameters): only plain
// lower-case identifiers are accepted, so none needs quoting and none can carry SQL.

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** `name` itself, once checked to be a plain SQL identifier (throws otherwise). */
export function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}
