// npm run token -- --role customer --sub c-1 [--role ops ...] [--expires 12h]
// Mints an HS256 JWT with AUTH_JWT_SECRET, or with the dev secret the server generated and
// stored under DATA_DIR when AUTH_JWT_SECRET is unset.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { ROLES, signToken, type Role } from "../src/api/auth.js";

const program = new Command()
  .name("token")
  .description("Mint a bearer token for the API")
  .option("--role <role...>", `one or more of ${ROLES.join(", ")}`, ["customer"])
  .option("--sub <subject>", "the subject (the customer id for customers)", "c-1")
  .option("--expires <duration>", "lifetime, e.g. 12h, 30m", "12h")
  .parse();

const opts = program.opts<{ role: string[]; sub: string; expires: string }>();
const bad = opts.role.filter((r) => !ROLES.includes(r as Role));
if (bad.length > 0) {
  console.error(`unknown role ${bad.join(", ")}; roles: ${ROLES.join(", ")}`);
  process.exit(1);
}

let secret = process.env.AUTH_JWT_SECRET || undefined;
if (!secret) {
  const file = join(process.env.DATA_DIR || "./data", "dev-secrets.json");
  try {
    secret = (JSON.parse(readFileSync(file, "utf8")) as { jwtSecret?: string }).jwtSecret;
  } catch {
    secret = undefined;
  }
  if (!secret) {
    console.error(
      `AUTH_JWT_SECRET is not set and ${file} holds no generated secret: start the server once (npm start) or set AUTH_JWT_SECRET`,
    );
    process.exit(1);
  }
}
console.log(await signToken(secret, { sub: opts.sub, roles: opts.role as Role[] }, opts.expires));
